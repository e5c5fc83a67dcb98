"""The class is in the motion and nowhere else: decoded clips move as their class says, appearance ignores it."""

from __future__ import annotations

import random
from pathlib import Path

import ffmpeg
import numpy as np
import pytest

from sfp_preprocess.synth import CLASSES, SynthConfig, plan_clips, render_dataset
from sfp_preprocess.synth.motion import MIN_LUMA_CONTRAST, luma, overlay_expressions, sample_appearance

CONFIG = SynthConfig(clips_per_class=2, val_fraction=0.0, duration_sec=1.5, width=96, height=72, seed=11)
LUMA = np.array([0.299, 0.587, 0.114])


def decode(path: Path, config: SynthConfig) -> np.ndarray:
    raw, _ = ffmpeg.input(str(path)).output("pipe:", format="rawvideo", pix_fmt="rgb24").run(quiet=True)
    return np.frombuffer(raw, np.uint8).reshape(-1, config.height, config.width, 3)


def track(frames: np.ndarray) -> np.ndarray:
    """Per frame, the (x, y) centroid of the pixels whose luma differs from the frame's median (the background).

    The objects of a clip move together, so their joint centroid moves as each of them does.
    """
    lumas = frames @ LUMA
    centroids = []
    for frame in lumas:
        ys, xs = np.nonzero(np.abs(frame - np.median(frame)) > MIN_LUMA_CONTRAST / 2)
        assert len(xs) >= 20, "the objects are visible in every frame"
        centroids.append((xs.mean(), ys.mean()))
    return np.array(centroids)


def turning_points(positions: np.ndarray, hysteresis: float = 2.0) -> list[int]:
    """Frames where a 1-D path reverses, ignoring wiggles smaller than `hysteresis` pixels."""
    turns: list[int] = []
    direction = 0
    high = low = positions[0]
    high_at = low_at = 0
    for frame, position in enumerate(positions):
        if position > high:
            high, high_at = position, frame
        if position < low:
            low, low_at = position, frame
        if direction >= 0 and position < high - hysteresis:
            if direction > 0:
                turns.append(high_at)
            direction, low, low_at = -1, position, frame
        elif direction <= 0 and position > low + hysteresis:
            if direction < 0:
                turns.append(low_at)
            direction, high, high_at = 1, position, frame
    return turns


@pytest.fixture(scope="module")
def tracks(tmp_path_factory) -> dict[str, list[np.ndarray]]:
    out = tmp_path_factory.mktemp("synth") / "motion"
    render_dataset(CONFIG, out)
    result: dict[str, list[np.ndarray]] = {label: [] for label in CLASSES}
    for clip in plan_clips(CONFIG):
        result[clip.label].append(track(decode(out / clip.path, CONFIG)))
    return result


@pytest.mark.parametrize("label", ["move_left", "move_right", "move_up", "move_down"])
def test_move_classes_cross_the_frame_at_constant_speed_in_their_direction(tracks, label):
    axis = 0 if label in ("move_left", "move_right") else 1
    sign = 1 if label in ("move_right", "move_down") else -1
    extent = (CONFIG.width, CONFIG.height)[axis]
    seconds = np.arange(CONFIG.num_frames) / CONFIG.fps
    for path in tracks[label]:  # two clips of different appearance
        along, across = path[:, axis], path[:, 1 - axis]
        speed, intercept = np.polyfit(seconds, along, 1)
        assert sign * (along[-1] - along[0]) > 0.3 * extent
        assert 0.3 * extent < sign * speed * CONFIG.duration_sec < 0.5 * extent
        assert np.abs(along - (speed * seconds + intercept)).max() < 1.5  # constant speed
        assert np.ptp(across) < 1.5  # and only along its axis
        assert turning_points(along) == []


@pytest.mark.parametrize("label", ["oscillate_horizontal", "oscillate_vertical"])
def test_oscillate_classes_go_back_and_forth_at_1_to_1_5_hz_on_their_axis(tracks, label):
    axis = 0 if label == "oscillate_horizontal" else 1
    extent = (CONFIG.width, CONFIG.height)[axis]
    for path in tracks[label]:
        along, across = path[:, axis], path[:, 1 - axis]
        turns = turning_points(along)
        # a reversal every half period (1/3 to 1/2 s): 2 to 5 of them in 1.5 s
        assert 2 <= len(turns) <= 5, turns
        half_period = np.diff(turns).mean() / CONFIG.fps if len(turns) > 1 else 0
        assert 0.28 < half_period < 0.58
        assert 0.2 * extent < np.ptp(along) < 0.4 * extent  # twice the amplitude
        assert np.ptp(across) < 1.5


def test_two_clips_of_a_class_differ_in_appearance_and_share_it_with_every_other_class():
    clips = plan_clips(CONFIG)
    by_index = {}
    for clip in clips:
        by_index.setdefault(clip.index, set()).add(clip.appearance)
    assert all(len(appearances) == 1 for appearances in by_index.values())  # clip i of every class looks alike
    assert by_index[0] != by_index[1]


def test_appearance_is_drawn_without_the_class_and_varies():
    """Appearances of the default dataset are the same multiset in every class, and vary from clip to clip."""
    clips = plan_clips(SynthConfig())
    by_class = {label: sorted(map(repr, (c.appearance for c in clips if c.label == label))) for label in CLASSES}
    assert all(appearances == by_class[CLASSES[0]] for appearances in by_class.values())
    looks = [clip.appearance for clip in clips if clip.label == CLASSES[0]]
    backgrounds = np.array([look.background for look in looks])
    assert len({tuple(colour) for colour in backgrounds}) == 24 and (np.abs(backgrounds - 128) <= 8).all()
    wide_looks = [clip.appearance for clip in plan_clips(SynthConfig(background_spread=127))]
    assert (np.array([look.background for look in wide_looks]).std(axis=0) > 50).all()  # any colour
    sprites = [sprite for look in looks for sprite in look.sprites]
    assert len(sprites) == 24 * 3
    assert {sprite.shape for sprite in sprites} == {"box", "disc"}
    assert len({sprite.size for sprite in sprites}) > 10
    assert sum(luma(sprite.colour) > 128 for sprite in sprites) > 20  # light and dark objects
    assert sum(luma(sprite.colour) < 128 for sprite in sprites) > 20
    for look in looks + wide_looks:
        for sprite in look.sprites:
            assert abs(luma(sprite.colour) - luma(look.background)) >= MIN_LUMA_CONTRAST
    other = plan_clips(SynthConfig(seed=1))
    assert {clip.appearance for clip in other}.isdisjoint({clip.appearance for clip in clips})


def test_decoded_backgrounds_carry_no_class_information(tmp_path):
    """Measured on the videos: clip i's background colour is the same in every class, and differs between clips."""
    config = CONFIG.model_copy(
        update={"classes": ["move_left", "oscillate_vertical"], "duration_sec": 0.2, "background_spread": 60}
    )
    render_dataset(config, tmp_path / "d")
    medians = {}
    for clip in plan_clips(config):
        first = decode(tmp_path / "d" / clip.path, config)[0].reshape(-1, 3)
        medians[clip.label, clip.index] = np.median(first, axis=0)
    for index in range(config.clips_per_class):
        assert np.abs(medians["move_left", index] - medians["oscillate_vertical", index]).max() <= 2
    assert np.abs(medians["move_left", 0] - medians["move_left", 1]).max() > 10


def test_every_path_stays_in_the_frame_and_is_centred_on_the_class_independent_anchor():
    """The time-averaged position is the anchor, drawn with the appearance, so where objects are says nothing."""
    rng = random.Random(0)
    times = np.linspace(0, 2.0, 61)
    for _ in range(30):
        look = sample_appearance(rng, width=160, height=120, objects=3, background_spread=127)
        for label in CLASSES:
            overlays = overlay_expressions(label, look, rng, width=160, height=120, duration_sec=2.0)
            for sprite, expressions in zip(look.sprites, overlays, strict=True):
                # the expressions are arithmetic in `t` and `sin`: numpy evaluates them for all frames at once
                left, top = (np.broadcast_to(eval(e, {"sin": np.sin, "t": times}), times.shape) for e in expressions)
                assert left.min() >= 0 and left.max() + sprite.size[0] <= 160
                assert top.min() >= 0 and top.max() + sprite.size[1] <= 120
                centre = np.array([left.mean() + sprite.size[0] / 2, top.mean() + sprite.size[1] / 2])
                # exact for constant speed; a non-whole number of periods moves an oscillation's mean < A / (pi f T)
                tolerance = 0.01 if label.startswith("move") else 5.0
                assert np.abs(centre - sprite.anchor).max() < tolerance

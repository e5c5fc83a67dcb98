"""A synthetic AVA-format dataset: short "movies" of a few objects ("people"), each acting by how it moves.

    <out>/videos/<video_id>.mp4                    H.264 movies, `duration_sec` long
    <out>/annotations/movies.txt                   every movie, one `<video_id>.mp4` per line (a preprocessing manifest)
    <out>/annotations/{train,val}.csv              ground truth: video_id, keyframe_sec, x1, y1, x2, y2, action_id, person_id
    <out>/annotations/{train,val}_predicted_boxes.csv   noisy person boxes: video_id, keyframe_sec, x1, y1, x2, y2, , score
    <out>/annotations/labelmap.pbtxt               the actions, `label { name label_id label_type }`
    <out>/synth_ava_config.json                    the resolved config

A person's actions change every `action_sec` seconds, halfway between two keyframes, so that each keyframe is its
own sample and a person's looks say nothing about what it does. The actions are the motion classes of the
Kinetics-format synthetic dataset, along each axis independently, so a person can have two at once (multi-label, as
in AVA):

| actions                                     | motion of the person's box                                  |
|---------------------------------------------|-------------------------------------------------------------|
| `oscillate_horizontal`                      | `A sin(2 pi f (t - t0))` along x, a whole number of half     |
|                                             | periods in the segment: at rest where actions change         |
| `oscillate_vertical`                        | the same along y                                            |
| `oscillate_horizontal`, `oscillate_vertical`| both, with their own frequencies                            |
| `stand_still`                               | none                                                        |

Keyframes are at 1 Hz in `keyframe_range`, as AVA's (902..1798 s there); a box is the person's position at its
keyframe, normalised to [0, 1]. The "detected" boxes are the true ones jittered by a few per cent, with high scores,
plus low-scoring false boxes that a score threshold of 0.8 removes. Everything is a function of the config; the
same config renders the same movies. The folder is complete when `annotations/movies.txt` exists (written last).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, model_validator

from sfp.config import StrictModel
from sfp.errors import SfpError
from sfp_preprocess.synth.motion import OSCILLATION_AMPLITUDE, OSCILLATION_HZ, Appearance, sample_appearance
from sfp_preprocess.synth.render import ClipSpec, SynthConfig, render_clips, require_ffmpeg, youtube_id

ACTIONS = ("oscillate_horizontal", "oscillate_vertical", "stand_still")
"""Action names; label ids are positions + 1 (AVA's ids start at 1)."""
ACTION_SETS = (("oscillate_horizontal",), ("oscillate_vertical",), ("oscillate_horizontal", "oscillate_vertical"),
               ("stand_still",))
ANNOTATIONS_DIR = "annotations"
MOVIES_TXT = "movies.txt"
LABELMAP = "labelmap.pbtxt"
CONFIG_JSON = "synth_ava_config.json"


class SynthAvaConfig(StrictModel):
    """What `sfp datasets synth-ava` renders."""

    train_movies: int = Field(4, ge=1)
    val_movies: int = Field(2, ge=1)
    keyframe_range: tuple[int, int] = (2, 9)  # seconds; keyframes at 1 Hz, as AVA's 902..1798
    margin_sec: float = Field(1.5, ge=0)  # movie time before the first and after the last keyframe
    people: int = Field(3, ge=1, le=6)  # per movie
    action_sec: int = Field(3, ge=1)  # how long a person keeps its actions; they change halfway between keyframes
    width: int = Field(128, ge=32, le=1920)
    height: int = Field(96, ge=32, le=1080)
    fps: int = Field(30, ge=1, le=60)
    background_spread: int = Field(8, ge=0, le=127)
    box_jitter: float = Field(0.03, ge=0, le=0.2)  # detected boxes: corner noise, share of the frame
    false_boxes_per_keyframe: float = Field(0.5, ge=0)  # detected boxes on no person, scored below 0.8
    seed: int = Field(0, ge=0)
    workers: int = Field(2, ge=1, le=64)

    @model_validator(mode="after")
    def _check(self) -> "SynthAvaConfig":
        if not 0 < self.keyframe_range[0] <= self.keyframe_range[1]:
            raise ValueError(f"keyframe_range {list(self.keyframe_range)} must be [first, last] with 0 < first <= last")
        if self.width % 2 or self.height % 2:
            raise ValueError("width and height must be even for yuv420p video")
        return self

    @property
    def duration_sec(self) -> int:
        return math.ceil(self.keyframe_range[1] + self.margin_sec)

    @property
    def keyframes(self) -> list[int]:
        return list(range(self.keyframe_range[0], self.keyframe_range[1] + 1))


@dataclass(frozen=True)
class Segment:
    """A stretch of time in which a person keeps its actions; the motion's phase starts at `start`."""

    start: float
    end: float
    actions: tuple[str, ...]
    motion: tuple[tuple[float, float], tuple[float, float]]  # per axis (amplitude px, signed; rad/s)

    def offset(self, axis: int, t: float) -> float:
        amplitude, angular = self.motion[axis]
        return amplitude * math.sin(angular * (t - self.start))

    def expression(self, axis: int, first: bool, last: bool) -> str:
        """`offset` as an ffmpeg expression of `t`, times the indicator of [start, end) (open-ended for the first and
        last segments). Written with `sgn`: a comma would split the filter graph. At a boundary the offset is 0."""
        amplitude, angular = self.motion[axis]
        if not amplitude:
            return ""
        window = ("" if first else f"*(1+sgn(t-{self.start:.4f}))/2") + ("" if last else f"*(1-sgn(t-{self.end:.4f}))/2")
        return f"{amplitude:+.4f}*sin({angular:.6f}*(t-{self.start:.4f})){window}"


@dataclass(frozen=True)
class Person:
    size: tuple[int, int]
    anchor: tuple[float, float]  # centre at rest, pixels
    segments: tuple[Segment, ...]  # in time order; the first and last extend to the movie's ends

    def segment(self, t: float) -> Segment:
        return next((segment for segment in self.segments if t < segment.end), self.segments[-1])

    def actions(self, t: float) -> tuple[str, ...]:
        return self.segment(t).actions

    def corner(self, t: float) -> tuple[float, float]:
        """Top-left corner in pixels at time `t`."""
        segment = self.segment(t)
        return tuple(self.anchor[axis] - self.size[axis] / 2 + segment.offset(axis, t) for axis in (0, 1))

    def box(self, t: float, width: int, height: int) -> tuple[float, float, float, float]:
        x, y = self.corner(t)
        return (x / width, y / height, (x + self.size[0]) / width, (y + self.size[1]) / height)

    def overlay(self) -> tuple[str, str]:
        """The `overlay` filter's x and y expressions of `t` (what ffmpeg draws is what `corner` says)."""
        parts = []
        for axis in (0, 1):
            rest = self.anchor[axis] - self.size[axis] / 2
            last = len(self.segments) - 1
            terms = (segment.expression(axis, first=index == 0, last=index == last)
                     for index, segment in enumerate(self.segments))
            parts.append(f"{rest:.4f}" + "".join(terms))
        return parts[0], parts[1]


@dataclass(frozen=True)
class MovieSpec(ClipSpec):
    people: tuple[Person, ...] = ()

    @property
    def path(self) -> Path:
        return Path("videos", f"{self.youtube_id}.mp4")


def plan_movies(config: SynthAvaConfig) -> list[MovieSpec]:
    """Every movie with its people, train movies first; a pure function of the config.

    Person `p` of movie `m` does action set `(m + p + s) % 4` in its segment `s`: every set as often as the others."""
    movies = []
    for index in range(config.train_movies + config.val_movies):
        split = "train" if index < config.train_movies else "val"
        rng = random.Random(f"synth-ava/{config.seed}/{index}")
        appearance = sample_appearance(rng, width=config.width, height=config.height, objects=config.people,
                                       background_spread=config.background_spread)
        people = tuple(_person(rng, sprite, index + number, config) for number, sprite in enumerate(appearance.sprites))
        video_id = youtube_id(config.seed, "ava-movie", index)
        movies.append(MovieSpec(label="movie", index=index, youtube_id=video_id, time_start=0,
                                time_end=config.duration_sec, split=split, appearance=appearance,
                                overlays=tuple(person.overlay() for person in people), people=people))
    return movies


def segment_bounds(config: SynthAvaConfig) -> list[tuple[float, float]]:
    """`[start, end)` of each action segment: `action_sec` long, from half a second before the first keyframe."""
    first, last = config.keyframe_range
    count = math.ceil((last - first + 1) / config.action_sec)
    return [(first - 0.5 + i * config.action_sec, first - 0.5 + (i + 1) * config.action_sec) for i in range(count)]


def _person(rng: random.Random, sprite, first_set: int, config: SynthAvaConfig) -> Person:
    segments = []
    for number, (start, end) in enumerate(segment_bounds(config)):
        actions = ACTION_SETS[(first_set + number) % len(ACTION_SETS)]
        motion = []
        for axis, name in enumerate(("oscillate_horizontal", "oscillate_vertical")):
            if name not in actions:
                motion.append((0.0, 0.0))
                continue
            # a whole number of half periods in the segment, at a frequency in OSCILLATION_HZ
            half_periods = rng.randint(math.ceil(2 * config.action_sec * OSCILLATION_HZ[0]),
                                       math.floor(2 * config.action_sec * OSCILLATION_HZ[1]))
            amplitude = rng.uniform(*OSCILLATION_AMPLITUDE) * (config.width, config.height)[axis]
            motion.append((rng.choice((-1, 1)) * amplitude, math.pi * half_periods / config.action_sec))
        segments.append(Segment(start, end, actions, (motion[0], motion[1])))
    return Person(size=sprite.size, anchor=sprite.anchor, segments=tuple(segments))


def groundtruth_rows(movie: MovieSpec, config: SynthAvaConfig) -> list[str]:
    rows = []
    for keyframe in config.keyframes:
        for person_id, person in enumerate(movie.people):
            box = _clamped(person.box(keyframe, config.width, config.height))
            for action in person.actions(keyframe):
                rows.append(f"{movie.youtube_id},{keyframe:04d},{_fmt(box)},{ACTIONS.index(action) + 1},{person_id}")
    return rows


def detected_rows(movie: MovieSpec, config: SynthAvaConfig) -> list[str]:
    rng = random.Random(f"synth-ava/{config.seed}/detections/{movie.youtube_id}")
    rows = []
    for keyframe in config.keyframes:
        for person in movie.people:
            box = person.box(keyframe, config.width, config.height)
            noisy = _clamped(tuple(value + rng.uniform(-config.box_jitter, config.box_jitter) for value in box))
            rows.append(f"{movie.youtube_id},{keyframe:04d},{_fmt(noisy)},,{rng.uniform(0.85, 1.0):.6f}")
        false_boxes = int(config.false_boxes_per_keyframe) + (rng.random() < config.false_boxes_per_keyframe % 1)
        for _ in range(false_boxes):
            x, y = rng.uniform(0, 0.8), rng.uniform(0, 0.8)
            box = (x, y, x + rng.uniform(0.1, 0.2), y + rng.uniform(0.1, 0.2))
            rows.append(f"{movie.youtube_id},{keyframe:04d},{_fmt(_clamped(box))},,{rng.uniform(0.2, 0.75):.6f}")
    return rows


def labelmap_text() -> str:
    return "".join(f'label {{\n  name: "{name}"\n  label_id: {index}\n  label_type: PERSON_MOVEMENT\n}}\n'
                   for index, name in enumerate(ACTIONS, start=1))


def is_complete(config: SynthAvaConfig, out_dir: str | Path) -> bool:
    out_dir = Path(out_dir)
    try:
        same = json.loads((out_dir / CONFIG_JSON).read_text()) == _manifest(config)
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return False
    return same and (out_dir / ANNOTATIONS_DIR / MOVIES_TXT).is_file()


def render_ava_dataset(config: SynthAvaConfig, out_dir: str | Path, *, force: bool = False) -> Path:
    """Render the movies and write the CSVs; returns the annotations folder. Does nothing if already there."""
    out_dir = Path(out_dir)
    annotations = out_dir / ANNOTATIONS_DIR
    if not force and is_complete(config, out_dir):
        return annotations
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / CONFIG_JSON).exists():
        raise SfpError(f"{out_dir} holds files not written by `sfp datasets synth-ava`; choose another folder")
    require_ffmpeg()
    movies = plan_movies(config)
    (annotations / MOVIES_TXT).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".synth-ava-", dir=out_dir))
    try:
        (staging / "videos").mkdir()
        render = SynthConfig(duration_sec=config.duration_sec, fps=config.fps, width=config.width,
                             height=config.height, objects=config.people, clips_per_class=1, val_fraction=0)
        with ThreadPoolExecutor(max_workers=config.workers) as pool:
            list(pool.map(lambda movie: render_clips([movie], render, staging), movies))
        if (out_dir / "videos").exists():
            shutil.rmtree(out_dir / "videos")
        (staging / "videos").rename(out_dir / "videos")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    annotations.mkdir(exist_ok=True)
    for split in ("train", "val"):
        chosen = [movie for movie in movies if movie.split == split]
        (annotations / f"{split}.csv").write_text(
            "".join(row + "\n" for movie in chosen for row in groundtruth_rows(movie, config)))
        (annotations / f"{split}_predicted_boxes.csv").write_text(
            "".join(row + "\n" for movie in chosen for row in detected_rows(movie, config)))
    (annotations / LABELMAP).write_text(labelmap_text())
    (out_dir / CONFIG_JSON).write_text(json.dumps(_manifest(config), indent=2) + "\n")
    (annotations / MOVIES_TXT).write_text("".join(f"{movie.youtube_id}.mp4\n" for movie in movies))
    return annotations


def _clamped(box: tuple[float, ...]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (min(1.0, max(0.0, value)) for value in box)
    return (x1, y1, x2, y2)


def _fmt(box: tuple[float, float, float, float]) -> str:
    return ",".join(f"{value:.3f}" for value in box)


def _manifest(config: SynthAvaConfig) -> dict:
    return {"generator": "sfp datasets synth-ava", "config": config.model_dump(mode="json", exclude={"workers"})}


__all__ = ["ACTIONS", "Appearance", "MovieSpec", "Person", "Segment", "SynthAvaConfig", "plan_movies", "render_ava_dataset",
           "segment_bounds"]

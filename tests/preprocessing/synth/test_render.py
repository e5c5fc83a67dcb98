"""The rendered dataset: Kinetics layout and columns, video format, splits, determinism, idempotence, validation."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import ffmpeg
import numpy as np
import pytest

from sfp.config import load_config
from sfp.errors import ConfigError, SfpError
from sfp_preprocess.synth import CLASSES, SynthConfig, is_complete, plan_clips, render_dataset

SMALL = dict(clips_per_class=2, val_fraction=0.5, duration_sec=1.0, width=96, height=72, seed=5)


def read_rows(csv_path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with csv_path.open(newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


def decode(path: Path, width: int = 96, height: int = 72) -> np.ndarray:
    raw, _ = ffmpeg.input(str(path)).output("pipe:", format="rawvideo", pix_fmt="rgb24").run(quiet=True)
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def video_paths(csv_path: Path) -> list[Path]:
    _, rows = read_rows(csv_path)
    names = [f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}.mp4" for row in rows]
    return [csv_path.parent / "videos" / row["label"] / name for row, name in zip(rows, names)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[SynthConfig, Path]:
    config = SynthConfig(**SMALL)
    out = tmp_path_factory.mktemp("synth") / "dataset"
    render_dataset(config, out)
    return config, out


def test_csv_has_the_kinetics_columns_and_the_split_fractions(dataset):
    config, out = dataset
    columns, rows = read_rows(out / "annotations.csv")
    assert columns == ["label", "youtube_id", "time_start", "time_end", "split"]
    assert len(rows) == len(CLASSES) * 2
    for label in CLASSES:
        splits = [row["split"] for row in rows if row["label"] == label]
        assert sorted(splits) == ["train", "val"]  # 50 % of 2
    assert len({row["youtube_id"] for row in rows}) == len(rows)
    for row in rows:
        assert re.fullmatch(r"[A-Za-z0-9_-]{11}", row["youtube_id"])
        assert 0 <= int(row["time_start"]) <= 300
        assert int(row["time_end"]) == int(row["time_start"]) + 1


@pytest.mark.parametrize(
    ("clips", "fraction", "val"), [(24, 0.25, 6), (10, 0.25, 3), (5, 0.1, 1), (3, 0.9, 2), (4, 0.0, 0)]
)
def test_val_holds_out_the_fraction_and_the_same_appearances_in_every_class(clips, fraction, val):
    plan = plan_clips(SynthConfig(clips_per_class=clips, val_fraction=fraction))
    val_indices = {
        label: {clip.index for clip in plan if clip.label == label and clip.split == "val"} for label in CLASSES
    }
    assert all(len(indices) == val for indices in val_indices.values())
    assert len({frozenset(indices) for indices in val_indices.values()}) == 1


def test_every_video_is_named_by_its_window_and_is_h264_at_30_fps(dataset):
    config, out = dataset
    _, rows = read_rows(out / "annotations.csv")
    assert len(list((out / "videos").rglob("*.mp4"))) == len(rows)
    for path in video_paths(out / "annotations.csv"):
        assert path.is_file()
        (stream,) = ffmpeg.probe(str(path))["streams"]
        assert stream["codec_name"] == "h264"
        assert stream["pix_fmt"] == "yuv420p"
        assert stream["r_frame_rate"] == "30/1"
        assert (stream["width"], stream["height"]) == (96, 72)
        assert int(stream["nb_frames"]) == config.num_frames == 30
        data = path.read_bytes()
        assert data.index(b"moov") < data.index(b"mdat")  # +faststart
    assert not list(out.parent.glob(".dataset.synth-*"))  # the staging folder is gone


def test_same_seed_renders_the_same_csv_and_frames_and_another_seed_does_not(tmp_path):
    config = SynthConfig(**dict(SMALL, classes=["oscillate_vertical"], clips_per_class=2, val_fraction=0.5))
    first = render_dataset(config, tmp_path / "first")
    second = render_dataset(config.model_copy(update={"workers": 1}), tmp_path / "second")
    other = render_dataset(config.model_copy(update={"seed": 6}), tmp_path / "other")

    assert first.read_text() == second.read_text()
    for path, same in zip(video_paths(first), video_paths(second)):
        np.testing.assert_array_equal(decode(path), decode(same))

    assert first.read_text() != other.read_text()
    for path, different in zip(video_paths(first), video_paths(other)):
        assert np.abs(decode(path).astype(int) - decode(different).astype(int)).mean() > 5


def test_rerun_on_a_complete_folder_does_nothing(dataset):
    config, out = dataset
    before = {path: path.stat().st_mtime_ns for path in out.rglob("*")}
    assert is_complete(config, out)
    assert is_complete(config.model_copy(update={"workers": 1}), out)  # workers do not change the clips
    render_dataset(config, out)
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*")} == before


def test_force_renders_again_and_another_config_needs_force(tmp_path):
    config = SynthConfig(**dict(SMALL, classes=["move_up"], clips_per_class=2, val_fraction=0.0))
    csv_path = render_dataset(config, tmp_path / "d")
    video = next((tmp_path / "d" / "videos").rglob("*.mp4"))
    first = video.stat().st_mtime_ns
    render_dataset(config, tmp_path / "d", force=True)
    assert video.stat().st_mtime_ns != first and is_complete(config, tmp_path / "d")

    other = config.model_copy(update={"seed": 9})
    with pytest.raises(SfpError, match="differs in seed.*--force"):
        render_dataset(other, tmp_path / "d")
    render_dataset(other, tmp_path / "d", force=True)
    assert is_complete(other, tmp_path / "d") and not video.exists()
    assert len(list((tmp_path / "d" / "videos").rglob("*.mp4"))) == 2
    assert csv_path.read_text().count("\n") == 3


def test_a_missing_video_makes_the_folder_incomplete_and_a_rerun_repairs_it(tmp_path):
    config = SynthConfig(**dict(SMALL, classes=["move_left"], clips_per_class=2, val_fraction=0.0))
    render_dataset(config, tmp_path / "d")
    next((tmp_path / "d" / "videos").rglob("*.mp4")).unlink()
    assert not is_complete(config, tmp_path / "d")
    render_dataset(config, tmp_path / "d")
    assert is_complete(config, tmp_path / "d")


def test_a_folder_not_written_by_synth_is_left_alone(tmp_path):
    (tmp_path / "kinetics" / "videos").mkdir(parents=True)
    with pytest.raises(SfpError, match="not written by `sfp datasets synth`"):
        render_dataset(SynthConfig(**SMALL), tmp_path / "kinetics", force=True)
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["kinetics", "videos"]


def test_missing_ffmpeg_is_one_line_saying_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SfpError, match=r"apt-get install -y ffmpeg"):
        render_dataset(SynthConfig(**SMALL), tmp_path / "d")


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("clip_per_class=3", "clip_per_class"),
        ("classes=[move_left,spin]", "spin"),
        ("width=97", "width"),
        ("val_fraction=1.0", "val_fraction"),
        ("fps=7", "fps"),  # 2.0 s at 7 fps is fine, 1.5 s is not: see below
    ],
)
def test_bad_overrides_name_the_key(override, key):
    overrides = [override, "duration_sec=1.5"] if key == "fps" else [override]
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_config(SynthConfig, None, overrides)


def test_defaults_are_six_classes_of_24_clips_of_two_seconds():
    config = SynthConfig()
    assert config.classes == list(CLASSES) and len(CLASSES) == 6
    assert (config.clips_per_class, config.val_clips_per_class, config.num_frames) == (24, 6, 60)
    assert (config.width, config.height, config.fps, config.workers) == (160, 120, 30, 2)


def test_clips_sharing_an_appearance_are_rendered_apart(tmp_path):
    """With one clip per class every clip has appearance 0; ffmpeg-python would merge their colour sources."""
    config = SynthConfig(**dict(SMALL, classes=["move_left", "move_down"], clips_per_class=1, val_fraction=0.0))
    render_dataset(config, tmp_path / "d")
    first, second = (decode(path) for path in video_paths(tmp_path / "d" / "annotations.csv"))
    assert np.abs(np.median(first[0], axis=(0, 1)) - np.median(second[0], axis=(0, 1))).max() <= 2  # one background
    assert np.abs(first[-1].astype(int) - second[-1].astype(int)).max() > 64  # objects moved apart

"""The preprocessing job on real videos, on a real local Ray cluster, to local disk and to a real S3 server."""

import shutil
from pathlib import Path

import pytest

from sfp.config import validate
from sfp.errors import SfpError
from sfp.framestore import FrameStore
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.job import run_preprocess

pytestmark = pytest.mark.slow

ROWS = [
    ("abseiling", "aaaaaaaaaaa", 10, 20, "train", "kinetics_clip_340x256_10s.mp4"),
    ("abseiling", "bbbbbbbbbbb", 0, 10, "val", "h264_340x256_32frames.mp4"),
    ("bowling", "ccccccccccc", 5, 15, "train", "mpeg4_320x240_25fps_audio.avi"),
    ("bowling", "ddddddddddd", 5, 15, "train", None),  # missing file
    ("bowling", "eeeeeeeeeee", 0, 10, "train", "corrupt"),  # not a video
]


def make_dataset(root: Path, fixtures_dir: Path) -> Path:
    lines = ["label,youtube_id,time_start,time_end,split"]
    for label, youtube_id, start, end, split, source in ROWS:
        lines.append(f"{label},{youtube_id},{start},{end},{split}")
        target_dir = root / "videos" / label
        target_dir.mkdir(parents=True, exist_ok=True)
        if source == "corrupt":
            (target_dir / f"{youtube_id}_{start:06d}_{end:06d}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" * 50)
        elif source:
            suffix = Path(source).suffix
            shutil.copy(fixtures_dir / "videos" / source, target_dir / f"{youtube_id}_{start:06d}_{end:06d}{suffix}")
    manifest = root / "train.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def config(manifest: Path, output: str, **extra) -> PreprocessConfig:
    return validate(PreprocessConfig, {
        "dataset": {"manifest": str(manifest), "video_root": str(manifest.parent / "videos")},
        "decode": {"short_side": 128},
        "output": {"uri": output, "clips_per_shard": 2},
        "error_budget": 0.5,
        **extra,
    })


def test_bad_clips_are_recorded_not_fatal(tmp_path, fixtures_dir, ray_cluster):
    manifest = make_dataset(tmp_path / "k", fixtures_dir)
    summary = run_preprocess(config(manifest, str(tmp_path / "store")))
    store = FrameStore.open(str(tmp_path / "store"))
    assert (store.manifest.clips, store.manifest.errors, store.manifest.source_rows) == (3, 2, 5)
    assert store.manifest.classes == ["abseiling", "bowling"]
    errors = {error.clip_id: error for error in store.errors()}
    assert errors["ddddddddddd_000005_000015"].stage == "locate"
    assert errors["eeeeeeeeeee_000000_000010"].stage == "decode"
    record = store.record("aaaaaaaaaaa_000010_000020")
    assert (record.num_frames, record.height, record.width, record.label_id) == (300, 128, 170, 0)
    assert store.read_frames(record, [0, 299]).shape == (2, 128, 170, 3)
    assert summary.manifest.clips == 3 and summary.bytes_in > 0


def test_error_budget_fails_the_job_after_writing(tmp_path, fixtures_dir, ray_cluster):
    manifest = make_dataset(tmp_path / "k", fixtures_dir)
    with pytest.raises(SfpError, match=r"2 of 5 clips failed .*_errors.parquet"):
        run_preprocess(config(manifest, str(tmp_path / "store"), error_budget=0.1))
    assert FrameStore.open(str(tmp_path / "store")).manifest.source_rows == 5


def test_rerun_after_a_crash_only_processes_what_is_missing(tmp_path, fixtures_dir, ray_cluster):
    manifest = make_dataset(tmp_path / "k", fixtures_dir)
    output = tmp_path / "store"
    run_preprocess(config(manifest, str(output)))
    # simulate a crash: the manifest was never written and one shard never finished
    (output / "_manifest.json").unlink()
    markers = sorted((output / "shards").glob("*.done.json"))
    markers[0].unlink()
    summary = run_preprocess(config(manifest, str(output)))
    assert summary.resumed_shards == len(markers) - 1
    store = FrameStore.open(str(output))
    assert (store.manifest.clips, store.manifest.errors) == (3, 2)
    assert len({record.clip_id for record in store.records}) == 3
    assert len(list((output / "shards").glob("*.parquet"))) == len(store.manifest.shards)

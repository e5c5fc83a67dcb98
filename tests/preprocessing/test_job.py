"""The preprocessing job on real videos, on a real local Ray cluster, to local disk (S3: test_job_s3.py)."""

import os
import shutil
from pathlib import Path

import pytest

from sfp.config import validate
from sfp.errors import SfpError
from sfp.framestore import FrameStore
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.decode import DecodeParams, decode_clip
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
        "tracking": {"enabled": False},
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
    assert errors["eeeeeeeeeee_000000_000010"].stage == "probe"
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


def test_kinetics_untrimmed_cuts_the_windows_out_of_full_videos(tmp_path, fixtures_dir, ray_cluster):
    videos = tmp_path / "k" / "videos"
    videos.mkdir(parents=True)
    full = fixtures_dir / "videos" / "kinetics_clip_340x256_10s.mp4"
    shutil.copy(full, videos / "fullvideo01.mp4")
    manifest = tmp_path / "k" / "train.csv"
    manifest.write_text("label,youtube_id,time_start,time_end,split\n"
                        "abseiling,fullvideo01,2,5,train\nabseiling,fullvideo01,6,9,val\n")
    summary = run_preprocess(config(manifest, str(tmp_path / "store"), dataset={
        "manifest": str(manifest), "video_root": str(videos), "trimmed": False}))
    assert summary.bytes_in == full.stat().st_size and len(summary.sources) == 1  # one video, located and probed once
    store = FrameStore.open(str(tmp_path / "store"))
    first, second = store.record("fullvideo01_000002_000005"), store.record("fullvideo01_000006_000009")
    assert (first.num_frames, second.num_frames) == (90, 90)
    assert (first.start_sec, first.end_sec, second.split) == (2.0, 5.0, "val")
    direct = decode_clip(str(full), DecodeParams(short_side=128), 6.0, 9.0)
    assert store.read_jpegs(second) == direct.frames  # the same frames as cutting the window by hand


def test_csv_format_with_windows_and_a_link_out_of_the_root(tmp_path, fixtures_dir, ray_cluster):
    videos = tmp_path / "data" / "videos"
    (videos / "a").mkdir(parents=True)
    shutil.copy(fixtures_dir / "videos" / "kinetics_clip_340x256_10s.mp4", videos / "a" / "long.mp4")
    shutil.copy(fixtures_dir / "videos" / "h264_340x256_32frames.mp4", tmp_path / "outside.mp4")
    os.symlink(tmp_path / "outside.mp4", videos / "a" / "link.mp4")
    manifest = tmp_path / "data" / "clips.csv"
    manifest.write_text("path,label,start,end,split\na/long.mp4,cat,,,train\na/long.mp4,cat,1,2.5,val\n"
                        "a/link.mp4,dog,,,train\n")
    with pytest.raises(SfpError, match="1 of 3 clips failed"):
        run_preprocess(config(manifest, str(tmp_path / "store"), dataset={
            "format": "csv", "manifest": str(manifest), "video_root": str(videos)}, error_budget=0.1))
    store = FrameStore.open(str(tmp_path / "store"))
    frames = sorted((record.split, record.num_frames) for record in store.clips())
    assert frames == [("train", 300), ("val", 45)]
    (error,) = store.errors()
    assert error.stage == "locate" and "outside the video root" in error.reason
    assert store.manifest.classes == ["cat", "dog"]


def test_folder_format_job(tmp_path, fixtures_dir, ray_cluster):
    root = tmp_path / "videos"
    for split, label, name in (("train", "cat", "kinetics_clip_340x256_10s.mp4"),
                               ("train", "dog", "mpeg4_320x240_25fps_audio.avi"),
                               ("val", "dog", "h264_340x256_32frames.mp4")):
        (root / split / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(fixtures_dir / "videos" / name, root / split / label / name)
    run_preprocess(validate(PreprocessConfig, {
        "dataset": {"format": "folder", "video_root": str(root), "split_folders": True},
        "decode": {"short_side": 64}, "output": {"uri": str(tmp_path / "store")}, "tracking": {"enabled": False},
    }))
    store = FrameStore.open(str(tmp_path / "store"))
    rows = sorted((r.split, r.label, r.label_id, r.num_frames, r.width, r.height) for r in store.clips())
    assert rows == [("train", "cat", 0, 300, 86, 64), ("train", "dog", 1, 197, 86, 64), ("val", "dog", 1, 32, 86, 64)]
    assert store.manifest.source["format"] == "folder" and store.manifest.splits == {"train": 2, "val": 1}


def test_summary_numbers_and_the_mlflow_run(tmp_path, fixtures_dir, ray_cluster):
    from mlflow.tracking import MlflowClient

    from sfp import tracking

    manifest = make_dataset(tmp_path / "k", fixtures_dir)
    output = tmp_path / "store"
    job = config(manifest, str(output), tracking={"local_dir": str(tmp_path / "mlflow"), "experiment": "prep-test"})
    summary = run_preprocess(job)
    sizes = sum(path.stat().st_size for path in (tmp_path / "k" / "videos").rglob("*.*"))
    assert summary.bytes_in == sizes  # every located file, the corrupt one included
    shards = sum(path.stat().st_size for path in (output / "shards").glob("*.parquet"))
    assert summary.manifest.total_bytes == shards
    assert summary.clips_per_second == pytest.approx(3 / summary.wall_seconds)
    assert 0 < summary.cpu_seconds_per_clip == pytest.approx(summary.cpu_seconds / 5)
    assert summary.errors_by_stage == {"locate": 1, "probe": 1}
    assert sum(summary.errors_by_reason.values()) == 2
    assert {(s.clip_id, s.width, s.height, round(s.fps)) for s in summary.sources} >= {
        ("ccccccccccc_000005_000015", 320, 240, 25)}
    assert 50 < summary.peak_worker_rss_mb < 2000

    tracking.configure(job.tracking)
    client = MlflowClient()
    run = client.get_run(summary.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name.startswith("preprocess-store-")
    metrics = run.data.metrics
    assert (metrics["clips"], metrics["errors"], metrics["rows"], metrics["errors_probe"]) == (3, 2, 5, 1)
    assert metrics["bytes_in"] == sizes and metrics["bytes_out"] == shards
    assert metrics["clips_per_sec"] == pytest.approx(summary.clips_per_second)
    assert run.data.params["decode.short_side"] == "128" and run.data.params["plan.shards"] == "3"
    assert run.data.tags["sfp.framestore.uri"] == str(output)
    artifacts = {item.path for item in client.list_artifacts(summary.run_id)}
    artifacts |= {item.path for item in client.list_artifacts(summary.run_id, "framestore")}
    assert {"data_quality.png", "summary.txt", "framestore/_manifest.json", "framestore/_errors.parquet"} <= artifacts
    picture = client.download_artifacts(summary.run_id, "data_quality.png", str(tmp_path))
    from PIL import Image

    assert Image.open(picture).size[0] > 800
    # a resumed job continues the same MLflow run
    (output / "_manifest.json").unlink()
    sorted((output / "shards").glob("*.done.json"))[0].unlink()
    assert run_preprocess(job).run_id == summary.run_id

"""Resume after a crash of the driver: `sfp preprocess` is killed (SIGKILL) part-way through a real job, rerun,
and the store holds every clip exactly once, with the shards finished before the crash reused."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sfp.config import validate
from sfp.framestore import FrameStore
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.job import run_preprocess

pytestmark = pytest.mark.slow

CLIPS, PER_SHARD = 24, 2


def make_dataset(root: Path, fixtures_dir: Path) -> Path:
    """24 distinct files (hard links to the 32-frame fixture: cheap to decode), in a csv manifest."""
    (root / "videos").mkdir(parents=True)
    source = fixtures_dir / "videos" / "h264_340x256_32frames.mp4"
    lines = ["path,label"]
    for index in range(CLIPS):
        name = f"clip_{index:03d}.mp4"
        os.link(source, root / "videos" / name)
        lines.append(f"{name},class_{index % 4}")
    manifest = root / "clips.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def test_killing_the_driver_mid_job_then_rerunning(tmp_path, fixtures_dir, ray_cluster):
    import ray

    manifest = make_dataset(tmp_path / "data", fixtures_dir)
    output = tmp_path / "store"
    overrides = ["--format", "csv", "--manifest", str(manifest), "--video-root", str(tmp_path / "data" / "videos"),
                 "--output", str(output), "--ray-address", ray.get_runtime_context().gcs_address,
                 "decode.short_side=64", f"output.clips_per_shard={PER_SHARD}", "tracking.enabled=false"]
    log = (tmp_path / "driver.log").open("wb")
    driver = subprocess.Popen([sys.executable, "-m", "sfp_app.cli.main", "preprocess", *overrides], stdout=log,
                              stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while len(list((output / "shards").glob("*.done.json"))) < 3 and driver.poll() is None:
        assert time.monotonic() < deadline, "no shard finished in time"
        time.sleep(0.1)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    log.close()
    done_before = len(list((output / "shards").glob("*.done.json")))
    assert not (output / "_manifest.json").exists(), (tmp_path / "driver.log").read_text()[-2000:]
    assert 3 <= done_before < CLIPS // PER_SHARD

    config = validate(PreprocessConfig, {
        "dataset": {"format": "csv", "manifest": str(manifest), "video_root": str(tmp_path / "data" / "videos")},
        "decode": {"short_side": 64}, "output": {"uri": str(output), "clips_per_shard": PER_SHARD},
        "tracking": {"enabled": False},
    })
    summary = run_preprocess(config)
    assert summary.resumed_shards >= done_before > 0
    store = FrameStore.open(str(output))
    ids = [record.clip_id for record in store.records]
    assert len(ids) == len(set(ids)) == CLIPS and store.manifest.errors == 0
    files = sorted((output / "shards").glob("*.parquet"))
    assert [path.name for path in files] == sorted(Path(shard.path).name for shard in store.manifest.shards)
    # no clip written twice: schema version 2 stores one row per frame, 32 frames per clip
    assert sum(pq.ParquetFile(path).metadata.num_rows for path in files) == CLIPS * 32
    assert not list((output / "shards").glob(".*.tmp"))  # writes the crash interrupted are cleaned up
    assert {record.num_frames for record in store.records} == {32}

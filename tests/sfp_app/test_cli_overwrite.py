"""`sfp preprocess --overwrite`: the store of another dataset at the output is refused without it (one line, the
store untouched) and replaced with it; only the store's own files go, and nothing goes when the source is missing."""

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sfp_app.cli.main import main
from sfp_app.cli.overwrite import clear_store
from sfp.framestore import EncodedClip, ErrorRecord, FrameStore, finalize_store, shard_name_for, write_shard


def old_store(uri: Path) -> None:
    """Another dataset's store (class `cat`, clip `old`), plus what an interrupted job and the user left there."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((32, 48, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    clip = EncodedClip(clip_id="old", label="cat", label_id=0, split="train", source_path="old.mp4", start_sec=None,
                       end_sec=None, fps=30.0, width=48, height=32, frames=[buffer.getvalue()] * 3,
                       timestamps=[0.0, 1 / 30, 2 / 30])
    shard, records = write_shard(str(uri), shard_name_for(["old"]), [clip])
    finalize_store(str(uri), shards=[shard], records=records, errors=[ErrorRecord("bad", "bad.mp4", "probe", "x")],
                   classes=["cat"], source_rows=2, source={"format": "csv", "sha256": "other"}, decode={"fps": 30},
                   code_version="test")
    (uri / "shards" / ".part-0123.parquet.tmp").write_bytes(b"half")
    (uri / "notes.txt").write_text("mine\n")
    versions = uri / "_versions" / "000002-0123456789ab"  # what an append leaves: a version's manifest and tables
    versions.mkdir(parents=True)
    for name in ("_manifest.json", "_index.parquet", "_errors.parquet"):
        shutil.copy(uri / name, versions / name)
    (uri / "_versions" / "mine").mkdir()
    (uri / "_versions" / "mine" / "_index.parquet").write_bytes(b"not the store's")


def test_clear_store_removes_the_stores_files_only(tmp_path):
    old_store(tmp_path / "store")

    # manifest, index, errors, the shard, the interrupted write, and the appended version's three files
    assert clear_store(str(tmp_path / "store")) == 8
    assert sorted(str(path.relative_to(tmp_path)) for path in (tmp_path / "store").rglob("*")) == [
        "store/_versions", "store/_versions/000002-0123456789ab", "store/_versions/mine",
        "store/_versions/mine/_index.parquet", "store/notes.txt", "store/shards"]
    assert clear_store(str(tmp_path / "store")) == 0


def test_overwrite_with_a_missing_source_removes_nothing(tmp_path, capsys):
    old_store(tmp_path / "store")
    before = sorted((tmp_path / "store").rglob("*"))

    code = main(["preprocess", "--format", "folder", "--video-root", str(tmp_path / "no-videos"), "--output",
                 str(tmp_path / "store"), "--overwrite", "tracking.enabled=false"])

    assert code == 2
    assert capsys.readouterr().err == ("sfp: error: no such dataset video root, nothing overwritten "
                                       f"({tmp_path / 'no-videos'})\n")
    assert sorted((tmp_path / "store").rglob("*")) == before


@pytest.mark.slow
def test_another_datasets_store_is_refused_then_overwritten(tmp_path, fixtures_dir, ray_cluster, capsys):
    videos = tmp_path / "videos" / "dog"
    videos.mkdir(parents=True)
    shutil.copy(fixtures_dir / "videos" / "h264_340x256_32frames.mp4", videos / "a.mp4")
    store = tmp_path / "store"
    old_store(store)
    argv = ["preprocess", "--format", "folder", "--video-root", str(tmp_path / "videos"), "--output", str(store),
            "decode.short_side=64", "tracking.enabled=false"]

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sfp: error: {store}: a frame store of another dataset or decode settings is already "
                          "there; choose another output") and err.count("\n") == 1
    assert [record.clip_id for record in FrameStore.open(str(store)).clips()] == ["old"]

    assert main([*argv, "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"--overwrite: removed the frame store at {store} (8 files)\n")
    replaced = FrameStore.open(str(store))
    assert [(r.label, r.num_frames) for r in replaced.clips()] == [("dog", 32)]
    assert (replaced.manifest.classes, replaced.manifest.errors) == (["dog"], 0)
    assert (store / "notes.txt").read_text() == "mine\n"
    assert main(["framestore", "verify", str(store)]) == 0


@pytest.mark.slow
@pytest.mark.extended  # a second real job with its MLflow run (pictures, artifacts); the retiring is pinned cheaply
def test_the_new_stores_job_is_a_run_of_its_own(tmp_path, fixtures_dir, ray_cluster):  # in tests/sfp/test_tracking.py
    from mlflow.tracking import MlflowClient

    from sfp import tracking
    from sfp_preprocess.run_log import run_name

    videos = tmp_path / "videos" / "dog"
    videos.mkdir(parents=True)
    shutil.copy(fixtures_dir / "videos" / "h264_340x256_32frames.mp4", videos / "a.mp4")
    store = tmp_path / "store"
    old_store(store)
    store_tracking = tracking.TrackingConfig(local_dir=str(tmp_path / "mlflow"), experiment="preprocessing")
    old_run = tracking.start_or_resume_run(store_tracking, run_name(str(store)),
                                           tags={"sfp.stage": "preprocess", "sfp.framestore.uri": str(store)})

    assert main(["preprocess", "--format", "folder", "--video-root", str(tmp_path / "videos"), "--output", str(store),
                 "decode.short_side=64", f"tracking.local_dir={tmp_path / 'mlflow'}", "--overwrite"]) == 0

    client = MlflowClient(tracking_uri=tracking.local_store_uris(str(tmp_path / "mlflow"))[0])
    runs = client.search_runs([client.get_experiment_by_name("preprocessing").experiment_id])
    assert len(runs) == 2 and client.get_run(old_run).data.tags["sfp.replaced"].startswith("sfp preprocess")
    (new_run,) = [run for run in runs if run.info.run_id != old_run]
    assert new_run.data.params["decode.short_side"] == "64" and new_run.data.metrics

"""`sfp preprocess --append`: a grown manifest adds its new clips to a store as version 2, decoding only those; the
union is what readers and the training index see once it is committed; what cannot be appended is one line."""

import os
import shutil
from pathlib import Path

import pytest

from sfp_app.cli.main import main
from sfp.config import validate
from sfp.errors import SfpError
from sfp.framestore import FrameStore
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.job import run_preprocess
from sfp_preprocess.summary import Appended
from sfp_train.data.pipeline import index_rows

pytestmark = pytest.mark.slow

FIRST = [(f"clip_{index}.mp4", f"class_{index % 2}") for index in range(4)]
ADDED = [("clip_4.mp4", "class_1"), ("clip_5.mp4", "class_2"), ("bad.mp4", "class_0")]  # a new class, a bad file


def write_manifest(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("path,label\n" + "".join(f"{name},{label}\n" for name, label in rows))
    return path


def config(manifest: Path, output: Path, **extra) -> PreprocessConfig:
    values = {
        "dataset": {"format": "csv", "manifest": str(manifest), "video_root": str(manifest.parent / "videos")},
        "decode": {"short_side": 64}, "output": {"uri": str(output), "clips_per_shard": 2},
        "tracking": {"enabled": False}, "error_budget": 0.5,
    }
    for key, value in extra.items():
        section, name = key.split("__")
        values[section] = {**values.get(section, {}), name: value}
    return validate(PreprocessConfig, values)


@pytest.fixture(scope="module")
def data(tmp_path_factory, fixtures_dir) -> Path:
    """Seven files (hard links to the 32-frame fixture, one that is no video) and the first manifest's store."""
    root = tmp_path_factory.mktemp("append")
    (root / "videos").mkdir()
    for name, _ in FIRST + ADDED:
        if name == "bad.mp4":
            (root / "videos" / name).write_bytes(b"\x00\x00\x00\x18ftypmp42" * 50)
        else:
            os.link(fixtures_dir / "videos" / "h264_340x256_32frames.mp4", root / "videos" / name)
    write_manifest(root / "first.csv", FIRST)
    write_manifest(root / "grown.csv", FIRST + ADDED)
    return root


@pytest.fixture(scope="module")
def first_store(data, ray_cluster) -> Path:
    run_preprocess(config(data / "first.csv", data / "store"))
    return data / "store"


def files(folder: Path) -> dict[Path, tuple[int, int]]:
    return {path: (path.stat().st_size, path.stat().st_mtime_ns) for path in folder.rglob("*") if path.is_file()}


def test_append_adds_the_new_clips_as_version_2(data, first_store, tmp_path, capsys):
    store_path = tmp_path / "store"
    shutil.copytree(first_store, store_path, copy_function=os.link)  # the same files: nothing may rewrite them
    first = FrameStore.open(str(store_path))
    stored_before = files(store_path)
    first_labels = {record.clip_id: record.label_id for record in first.records}

    summary = run_preprocess(config(data / "grown.csv", store_path, output__append=True))
    added_bytes = summary.appended.bytes_out
    assert summary.appended == Appended(version=2, clips=2, errors=1, skipped_rows=4, new_classes=1,
                                        bytes_out=added_bytes) and added_bytes > 0
    assert "appended: 2 clips, 1 errors, 3 rows as version 2 (4 rows of the manifest were in the store already, " \
           "skipped; 1 new classes)" in summary.lines()

    store = FrameStore.open(str(store_path))
    manifest = store.manifest
    assert (manifest.version, manifest.clips, manifest.errors, manifest.source_rows) == (2, 6, 1, 7)
    assert manifest.classes == ["class_0", "class_1", "class_2"]  # the new class last: stored label ids stay
    kept = {record.clip_id: record.label_id for record in store.records if record.clip_id in first_labels}
    assert kept == first_labels
    assert sorted(record.source_path.rsplit("/", 1)[1] for record in store.records) == sorted(
        name for name, _ in FIRST + ADDED if name != "bad.mp4")
    assert [error.source_path.rsplit("/", 1)[1] for error in store.errors()] == ["bad.mp4"]
    assert [(v.version, v.clips, v.added_rows) for v in manifest.versions] == [(1, 4, 4), (2, 6, 3)]

    # only the new clips were decoded, into new shards; version 1's files are untouched but for the commit point
    del stored_before[store_path / "_manifest.json"]
    assert {path: stat for path, stat in files(store_path).items() if path in stored_before} == stored_before
    new_shards = {shard.path for shard in manifest.shards} - {shard.path for shard in first.manifest.shards}
    assert {record.clip_id for record in store.records if record.shard in new_shards} == \
        {record.clip_id for record in store.records} - set(first_labels)
    assert sum(shard.rows for shard in manifest.shards if shard.path in new_shards) == 2

    # the reader that opened version 1 still reads version 1; the training index covers the union
    assert sorted(record.clip_id for record in first.records) == sorted(first_labels)
    rows = index_rows(store, "train")
    assert sorted(row["clip_id"] for row in rows) == sorted(record.clip_id for record in store.records)
    for row in rows:  # what the training loader reads for each clip: its location in the index row
        record = store.record(row["clip_id"])
        assert (row["shard"], row["row_group"], row["label_id"]) == (record.shard, record.row_group, record.label_id)
        assert store.read_frames(record, [0, 31]).shape == (2, 64, 86, 3)  # 340x256 at short side 64

    # the same append again, from the command line: nothing to add, nothing written
    after = files(store_path)
    assert main(["preprocess", "--append", "--format", "csv", "--manifest", str(data / "grown.csv"), "--video-root",
                 str(data / "videos"), "--output", str(store_path), "decode.short_side=64", "output.clips_per_shard=2",
                 "tracking.enabled=false"]) == 0
    assert "appended: nothing, every row of the manifest (7) is in the store already" in capsys.readouterr().out
    assert files(store_path) == after and FrameStore.open(str(store_path)).manifest.version == 2


def test_what_cannot_be_appended_is_one_line(data, first_store, tmp_path, capsys):
    before = files(first_store)
    with pytest.raises(SfpError, match=r"^no frame store to append to \(_manifest.json missing\); run without"):
        run_preprocess(config(data / "grown.csv", tmp_path / "nothing", output__append=True))
    with pytest.raises(SfpError, match=r"^the store was decoded with other settings: short_side 64 here 96; "):
        run_preprocess(config(data / "grown.csv", first_store, output__append=True, decode__short_side=96))
    (tmp_path / "folder" / "class_0").mkdir(parents=True)
    os.link(data / "videos" / "clip_0.mp4", tmp_path / "folder" / "class_0" / "clip_0.mp4")
    folder = validate(PreprocessConfig, {"dataset": {"format": "folder", "video_root": str(tmp_path / "folder")},
                                         "output": {"uri": str(first_store), "append": True},
                                         "decode": {"short_side": 64}, "tracking": {"enabled": False}})
    with pytest.raises(SfpError, match=r"^the store holds another kind of dataset: format csv here folder"):
        run_preprocess(folder)
    relabelled = write_manifest(data / "relabelled.csv", [("clip_0.mp4", "class_1")])
    with pytest.raises(SfpError, match=r"is already in the store with another description \(label 'class_0' in the "
                                       r"store, 'class_1' here\); an append adds clips, it does not change stored"):
        run_preprocess(config(relabelled, first_store, output__append=True))
    assert files(first_store) == before  # nothing written

    code = main(["preprocess", "--append", "--format", "csv", "--manifest", str(data / "grown.csv"),
                 "--output", str(tmp_path / "nothing"), "tracking.enabled=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("sfp: error: no frame store to append to")


@pytest.mark.extended
def test_training_on_an_appended_store_reads_the_union_and_tags_its_version(tmp_path, ray_cluster):
    """A real Ray Train run (1 worker, 1 epoch) on version 2 of a store: its classes, its steps (the union's training
    clips) and its MLflow tag are version 2's. About 2 minutes on 2 cores; `make test` pins the parts above."""
    from mlflow.tracking import MlflowClient

    from sfp import tracking
    from sfp_preprocess.synth.render import SynthConfig, render_dataset
    from sfp_train.recipe import TrainRecipe
    from sfp_train.workflow import PretrainTask, train

    synth = SynthConfig(clips_per_class=4, width=96, height=72, classes=["move_left", "move_right", "move_up"])
    render_dataset(synth, tmp_path / "data")
    grown = tmp_path / "data" / "annotations.csv"
    header, *rows = grown.read_text().splitlines()
    first = tmp_path / "data" / "first.csv"
    first.write_text("\n".join([header, *(row for row in rows if not row.startswith("move_left,"))]) + "\n")
    store = tmp_path / "store"
    base = {"decode": {"short_side": 64}, "output": {"uri": str(store)}, "tracking": {"enabled": False}}
    for manifest, append in ((first, False), (grown, True)):
        run_preprocess(validate(PreprocessConfig, {
            **base, "dataset": {"manifest": str(manifest), "video_root": str(tmp_path / "data" / "videos")},
            "output": {"uri": str(store), "append": append}}))
    manifest = FrameStore.open(str(store)).manifest
    assert manifest.version == 2 and manifest.classes == ["move_right", "move_up", "move_left"]
    assert manifest.splits == {"train": 9, "val": 3}

    recipe = validate(TrainRecipe, {
        "name": "on-the-union",
        "data": {"framestore": str(store), "train_short_side": [64, 64], "crop_size": 64, "flip": False,
                 "test_short_side": 64, "test_crop_size": 64, "loader_batch_size": 3},
        "model": {"depth": 18, "width": 8, "slow_frames": 2, "alpha": 4, "fusion_kernel_size": 3, "crop_size": 64},
        "optim": {"epochs": 1, "batch_size": 3, "warmup_epochs": 0},
        "scaling": {"num_workers": 1, "cpus_per_worker": 2},
        "checkpoint": {"storage_uri": str(tmp_path / "runs")},
        "tracking": {"local_dir": str(tmp_path / "mlflow")},
        "log_every_n_steps": 1,
    })
    result = train(recipe, PretrainTask(recipe))
    assert result.classes == manifest.classes
    tracking.configure(tracking.TrackingConfig(local_dir=str(tmp_path / "mlflow")))
    run = MlflowClient().get_run(result.run_id)
    assert run.data.tags["sfp.framestore.version"] == "2"
    steps = MlflowClient().get_metric_history(result.run_id, "train/lr")
    assert len(steps) == 3  # 9 training clips of the union // batch 3 (version 1 holds 6: 2 steps)

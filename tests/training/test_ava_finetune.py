"""AVA fine-tuning end to end on a tiny synthetic AVA dataset: movies -> segment frame store -> `sfp finetune-ava`
from a checkpoint (Ray Train + DeepSpeed, 2 workers) -> official frame mAP -> detections CSV -> MLflow run and
registered model -> `sfp predict` on a movie with the detector; and the Ray Data keyframe loader on that store."""

from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.slow

TINY = dict(arch="slowfast", depth=18, width=8, slow_frames=4, alpha=4, fusion_kernel_size=5, crop_size=64)


@pytest.fixture(scope="module")
def ava_dataset(tmp_path_factory, ray_cluster):
    from sfp.config import validate
    from sfp_preprocess.config import PreprocessConfig
    from sfp_preprocess.job import run_preprocess
    from sfp_preprocess.synth.ava import SynthAvaConfig, render_ava_dataset

    root = tmp_path_factory.mktemp("ava")
    synth = SynthAvaConfig(train_movies=2, val_movies=1, keyframe_range=(2, 5), width=96, height=72)
    annotations = render_ava_dataset(synth, root / "dataset")
    run_preprocess(validate(PreprocessConfig, {
        "dataset": {"format": "ava", "manifest": str(annotations / "movies.txt"),
                    "video_root": str(root / "dataset" / "videos"), "ava": {"keyframe_range": [2, 5]}},
        "decode": {"fps": 30, "short_side": 72}, "output": {"uri": str(root / "store")},
        "tracking": {"enabled": False}}))
    return root, annotations


def data_section(root: Path, annotations: Path) -> dict:
    return {"framestore": str(root / "store"), "labelmap": str(annotations / "labelmap.pbtxt"),
            "train_annotations": str(annotations / "train.csv"), "val_annotations": str(annotations / "val.csv"),
            "val_detections": str(annotations / "val_predicted_boxes.csv"), "train_short_side": [64, 72],
            "crop_size": 64, "test_short_side": 64, "test_max_aspect": 1.34, "max_boxes": 4}


def test_keyframe_loader_reads_windows_boxes_and_labels(ava_dataset):
    import torch

    from sfp.framestore import FrameStore
    from sfp_train.ava.data import (AvaDataConfig, keyframe_dataset, keyframe_decoder, keyframe_feed, train_keyframes,
                                    val_keyframes)
    from sfp_train.ava.labelmap import read_labelmap

    root, annotations = ava_dataset
    data = AvaDataConfig(**data_section(root, annotations))
    labelmap = read_labelmap(data.labelmap)
    store = FrameStore.open(data.framestore)
    train = train_keyframes(data, labelmap)
    assert len(train) == 2 * 4 and all(len(k.boxes) == 3 for k in train)
    cpu = torch.device("cpu")
    feed = keyframe_feed(store, train[:2], data, num_frames=16, num_actions=3, seed=0)
    (rows,) = feed.epoch_dataset(0, rank=0, world_size=1, micro_batch=2, accumulation=1, start_step=0,
                                 steps=1).iter_batches(batch_size=2, batch_format="numpy")
    assert [len(frames) for frames in rows["jpegs"]] == [16, 16]  # compressed frames cross to the worker
    batch = {k: v.numpy() for k, v in keyframe_decoder(data, train=True, arch="slowfast", alpha=4)(rows, cpu).items()}
    assert batch["pathway_0"].shape == (2, 3, 4, 64, 64) and batch["pathway_1"].shape == (2, 3, 16, 64, 64)
    assert batch["boxes"].shape == (2, 4, 4) and batch["box_count"].tolist() == [3, 3]
    assert batch["labels"].shape == (2, 4, 3) and batch["labels"][:, 3].sum() == 0
    assert (batch["labels"][:, :3].sum(axis=2) >= 1).all()  # every person has an action
    assert (batch["boxes"] >= 0).all() and (batch["boxes"] <= 64).all()
    val = val_keyframes(data, labelmap)
    (test_rows,) = keyframe_dataset(store, val[:1], data, num_frames=16,
                                    num_actions=3).iter_batches(batch_size=1, batch_format="numpy")
    test_batch = {k: v.numpy() for k, v in keyframe_decoder(data, train=False, arch="slowfast", alpha=4)(test_rows, cpu).items()}
    assert test_batch["pathway_1"].shape == (1, 3, 16, 64, 96)  # short side 64, padded to 1.34 x 64 -> 96
    np.testing.assert_allclose(test_batch["boxes"][0, :1], [np.array(val[0].boxes[0]) * [85, 64, 85, 64]], atol=1.0)


@pytest.fixture(scope="module")
def finetuned(ava_dataset):
    import torch

    from sfp_app.cli.main import main
    from sfp_train.checkpoints import write_model_file
    from sfp_train.models.config import ModelConfig, build_model

    root, annotations = ava_dataset
    pretrained = root / "pretrained"
    pretrained.mkdir()
    torch.manual_seed(0)
    config = ModelConfig(**TINY)
    write_model_file(pretrained, build_model(config, 6), config.model_dump(mode="json"), [f"c{i}" for i in range(6)])
    recipe = root / "ava.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "ava-e2e", "baseline": True, "init": {"from_model": str(pretrained)},
        "data": data_section(root, annotations), "model": {**TINY, "task": "detection"},
        "optim": {"epochs": 1, "batch_size": 4, "lr_per_64": 0.8, "warmup_epochs": 0, "weight_decay": 1e-7,
                  "schedule": "steps"},
        "scaling": {"num_workers": 2, "max_failures": 0}, "checkpoint": {"storage_uri": str(root / "runs")},
        "tracking": {"local_dir": str(root / "mlflow")},
        "registry": {"model_name": "slowfast-ava-e2e", "alias": "ava-finetuned"},
    }))
    detections = root / "detections.csv"
    assert main(["finetune-ava", str(recipe), "--detections", str(detections)]) == 0
    return root, annotations, detections


@pytest.mark.extended
def test_detections_are_written_in_the_official_format_and_scored(finetuned):
    from sfp_train.ava.annotations import read_detections, read_person_boxes
    from sfp_train.ava.evaluation import evaluate_files

    root, annotations, detections = finetuned
    boxes = read_person_boxes(annotations / "val_predicted_boxes.csv", score_threshold=0.8)
    found = read_detections(detections)
    assert len(found) == 3 * len(boxes)  # every kept person box, once per action
    assert {d.action_id for d in found} == {1, 2, 3} and all(0 <= d.score <= 1 for d in found)
    assert detections.read_text().splitlines()[0].split(",")[1] == "0002"
    result = evaluate_files(annotations / "val.csv", detections, annotations / "labelmap.pbtxt")
    assert 0 < result.mAP <= 1


@pytest.mark.extended
def test_run_holds_map_tables_and_the_registered_detector(finetuned):
    from mlflow.tracking import MlflowClient

    from sfp import tracking
    from sfp_train.serving import ClipDetector

    root, annotations, _ = finetuned
    tracking.configure(tracking.TrackingConfig(local_dir=str(root / "mlflow")))
    client = MlflowClient()
    experiment = client.get_experiment_by_name("slowfast")
    (run,) = client.search_runs([experiment.experiment_id], filter_string="tags.`sfp.run_name` = 'ava-e2e'")
    assert run.info.status == "FINISHED"
    for metric in ("train/loss", "train/lr", "val/mAP", "test/mAP", "baseline/mAP"):
        assert metric in run.data.metrics, metric
    assert all(0 < run.data.metrics[name] <= 1 for name in ("val/mAP", "test/mAP", "baseline/mAP"))
    # the last epoch's val (2 workers) and the evaluation of the checkpoint (driver) score the same model
    assert run.data.metrics["val/mAP"] == pytest.approx(run.data.metrics["test/mAP"], abs=1e-3)
    assert run.data.params["model.task"] == "detection" and run.data.tags["sfp.init.from_model"].endswith("pretrained")
    evaluation = {item.path for item in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {"evaluation/per_class_ap.csv", "evaluation/per_class_ap.json", "evaluation/per_class_ap.png",
            "evaluation/detections.csv"} <= evaluation
    version = client.get_model_version_by_alias("slowfast-ava-e2e", "ava-finetuned")
    assert version.run_id == run.info.run_id
    detector = tracking.load_model("models:/slowfast-ava-e2e@ava-finetuned")
    assert isinstance(detector, ClipDetector) and detector.actions == [
        "oscillate_horizontal", "oscillate_vertical", "stand_still"]


@pytest.mark.extended
def test_predict_writes_detections_for_a_new_video(finetuned, tmp_path):
    from sfp_app.cli.main import main
    from sfp_train.ava.annotations import read_detections

    root, annotations, _ = finetuned
    boxes = annotations / "val_predicted_boxes.csv"
    video_id = boxes.read_text().split(",")[0]
    out = tmp_path / "predicted.csv"
    assert main(["predict", "models:/slowfast-ava-e2e@ava-finetuned", str(root / "dataset" / "videos" / f"{video_id}.mp4"),
                 "--boxes", str(boxes), "-o", str(out), "--tracking-dir", str(root / "mlflow")]) == 0
    found = read_detections(out)
    assert len(found) == len(read_detections(root / "detections.csv"))
    assert {d.keyframe_sec for d in found} == {2, 3, 4, 5}


def test_a_pretrained_model_of_another_width_is_refused_before_training(ava_dataset, capsys):
    import torch

    from sfp_app.cli.main import main
    from sfp_train.checkpoints import write_model_file
    from sfp_train.models.config import ModelConfig, build_model

    root, annotations = ava_dataset
    wide = root / "wide"
    wide.mkdir(exist_ok=True)
    config = ModelConfig(**{**TINY, "width": 16})
    write_model_file(wide, build_model(config, 6), config.model_dump(mode="json"), ["a"] * 6)
    recipe = root / "wide.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "ava-wide", "init": {"from_model": str(wide / "model.pt")}, "data": data_section(root, annotations),
        "model": {**TINY, "task": "detection"}, "optim": {"batch_size": 4},
        "tracking": {"local_dir": str(root / "mlflow-wide")}}))
    assert main(["finetune-ava", str(recipe)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("sfp: error: backbones differ (arch, depth or width): ") and "\n" not in error
    assert not (root / "mlflow-wide").exists()  # refused before any run was opened

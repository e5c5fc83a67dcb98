"""The foundation's one real path, on a tiny setting: synthetic videos -> frame store -> SlowFast on Ray Train +
DeepSpeed (2 workers, gloo, bf16 autocast) -> evaluation -> MLflow run, registered model, alias -> loaded back and run; then the AVA
stage: synthetic AVA movies -> segment frame store -> the registered model fine-tuned for detection -> frame mAP
next to the untrained head's -> registered detector."""

import contextlib
import io
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, ray_cluster):
    from sfp_app.cli.main import main

    workdir = tmp_path_factory.mktemp("demo")
    overrides = [
        "synth.clips_per_class=4",
        "synth.width=96",
        "synth.height=72",
        "train.name=e2e",
        "train.optim.epochs=1",
        "train.optim.batch_size=4",
        "train.data.test_temporal_views=1",
        "train.engine.precision=bf16",  # the GPU's numeric path (autocast), on CPU
        "train.log_every_n_steps=2",
        f"train.tracking.local_dir={workdir / 'mlflow'}",
        "train.registry.model_name=slowfast-e2e",
        "ava.synth.train_movies=2",
        "ava.synth.val_movies=1",
        "ava.synth.keyframe_range=[2,5]",
        "ava.finetune.name=e2e-ava",
        "ava.finetune.optim.epochs=1",
        "ava.finetune.optim.batch_size=4",
        "ava.finetune.engine.precision=bf16",
        "ava.finetune.registry.model_name=slowfast-ava-e2e",
    ]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = main(["demo", "--workdir", str(workdir), *overrides])
    (workdir / "demo-output.txt").write_text(output.getvalue())
    assert code == 0, output.getvalue()[-3000:]
    return workdir


def test_frame_store_holds_every_clip(demo_run):
    from sfp.framestore import FrameStore

    store = FrameStore.open(str(demo_run / "framestore"))
    assert store.manifest.clips == 24 and store.manifest.errors == 0
    assert store.manifest.splits == {"train": 18, "val": 6}
    assert len(store.manifest.classes) == 6
    record = store.clips("val")[0]
    assert record.num_frames == 60 and min(record.width, record.height) == 72


def test_checkpoint_holds_model_and_engine_state(demo_run):
    from sfp_train.checkpoints import load_model_file, read_train_state

    checkpoints = sorted(path for path in (demo_run / "runs" / "e2e").glob("checkpoint_*") if path.is_dir())
    assert checkpoints, "Ray Train wrote no checkpoint"
    latest = checkpoints[-1]
    state = read_train_state(latest)
    assert state.epoch == 1 and state.global_step == 18 // 4
    assert (latest / "deepspeed").is_dir()
    model, config, classes = load_model_file(latest / "model.pt")
    assert config["arch"] == "slowfast" and len(classes) == 6


def test_mlflow_run_has_params_metrics_artifacts_and_a_registered_model(demo_run):
    from mlflow.tracking import MlflowClient

    from sfp import tracking

    tracking.configure(tracking.TrackingConfig(local_dir=str(demo_run / "mlflow")))
    client = MlflowClient()
    experiment = client.get_experiment_by_name("slowfast")
    (run,) = client.search_runs([experiment.experiment_id], filter_string="tags.`sfp.run_name` = 'e2e'")
    assert run.info.status == "FINISHED"
    assert run.data.params["optim.batch_size"] == "4" and run.data.params["model.arch"] == "slowfast"
    for metric in ("train/loss", "train/top1", "val/top1", "test/top1", "test/top5", "train/data_wait_share"):
        assert metric in run.data.metrics, metric
    # 18 train clips at batch 4: 4 optimiser steps, train/loss every 2nd
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == [2, 4]
    assert run.data.params["engine.precision"] == "bf16"
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"config", "dataset", "evaluation"} <= artifacts
    (logged_model,) = client.search_logged_models([experiment.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
    assert logged_model.name == "model"
    assert run.data.tags["sfp.framestore.uri"].endswith("framestore")
    version = client.get_model_version_by_alias("slowfast-e2e", "kinetics-pretrained")
    assert version.run_id == run.info.run_id


def test_registered_model_loads_by_alias_and_classifies(demo_run):
    from sfp import tracking
    from sfp.framestore import FrameStore
    from sfp_train.predict import classify_clip

    tracking.configure(tracking.TrackingConfig(local_dir=str(demo_run / "mlflow")))
    classifier = tracking.load_model("models:/slowfast-e2e@kinetics-pretrained")
    store = FrameStore.open(str(demo_run / "framestore"))
    top = classify_clip(classifier, store, store.clips("val")[0], top_k=6)
    assert sorted(label for label, _ in top) == sorted(store.manifest.classes)
    assert sum(probability for _, probability in top) == pytest.approx(1.0, abs=1e-4)
    probabilities = classifier(torch.zeros(2, 3, classifier.clip_frames, 64, 64))
    assert probabilities.shape == (2, 6)


def test_ava_stage_fine_tunes_the_registered_model_and_reports_map_against_the_untrained_head(demo_run):
    import re

    from mlflow.tracking import MlflowClient

    from sfp import tracking
    from sfp.framestore import FrameStore
    from sfp_train.serving import ClipDetector

    store = FrameStore.open(str(demo_run / "ava-framestore"))
    assert len(store.videos()) == 3 and store.manifest.errors == 0
    output = (demo_run / "demo-output.txt").read_text()
    match = re.search(r"val mAP@0.5 : ([0-9.]+) fine-tuned vs ([0-9.]+) with the untrained head", output)
    assert match, output[-2000:]
    tracking.configure(tracking.TrackingConfig(local_dir=str(demo_run / "mlflow")))
    client = MlflowClient()
    experiment = client.get_experiment_by_name("slowfast")
    (run,) = client.search_runs([experiment.experiment_id], filter_string="tags.`sfp.run_name` = 'e2e-ava'")
    assert run.info.status == "FINISHED"
    assert run.data.tags["sfp.init.from_model"] == "models:/slowfast-e2e@kinetics-pretrained"
    assert run.data.metrics["test/mAP"] == pytest.approx(float(match.group(1)), abs=1e-3)
    assert run.data.metrics["baseline/mAP"] == pytest.approx(float(match.group(2)), abs=1e-3)
    version = client.get_model_version_by_alias("slowfast-ava-e2e", "ava-finetuned")
    assert version.run_id == run.info.run_id
    assert isinstance(tracking.load_model("models:/slowfast-ava-e2e@ava-finetuned"), ClipDetector)

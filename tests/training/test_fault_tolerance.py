"""Failures: a killed training worker is recovered from the latest checkpoint, and a rerun with the same run name
resumes; both end with the optimiser steps of an uninterrupted run, in one MLflow run."""

import threading
import time
from pathlib import Path

import psutil
import pytest

from sfp.config import validate
from sfp_train.recipe import TrainRecipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def framestore(tmp_path_factory, ray_cluster) -> str:
    from sfp_preprocess.config import PreprocessConfig
    from sfp_preprocess.job import run_preprocess
    from sfp_preprocess.synth.render import SynthConfig, render_dataset

    root = tmp_path_factory.mktemp("ft")
    render_dataset(SynthConfig(clips_per_class=4, width=96, height=72, classes=["move_left", "move_right"]), root / "data")
    run_preprocess(validate(PreprocessConfig, {
        "dataset": {"manifest": str(root / "data" / "annotations.csv"), "video_root": str(root / "data" / "videos")},
        "decode": {"short_side": 64}, "output": {"uri": str(root / "store")},
    }))
    return str(root / "store")


def recipe(tmp_path: Path, framestore: str, name: str, epochs: int) -> TrainRecipe:
    return validate(TrainRecipe, {
        "name": name,
        "data": {"framestore": framestore, "train_short_side": [64, 64], "crop_size": 64, "flip": False,
                 "test_short_side": 64, "test_crop_size": 64, "loader_batch_size": 2},
        "model": {"depth": 18, "width": 8, "slow_frames": 2, "alpha": 4, "fusion_kernel_size": 3, "crop_size": 64},
        "optim": {"epochs": epochs, "batch_size": 2, "warmup_epochs": 0},
        "engine": {"zero_stage": 1},
        "scaling": {"num_workers": 2, "max_failures": 2},
        "checkpoint": {"storage_uri": str(tmp_path / "runs"), "keep": 5},
        "tracking": {"local_dir": str(tmp_path / "mlflow")},
    })


def mlflow_runs(tmp_path: Path, name: str):
    from mlflow.tracking import MlflowClient

    from sfp import tracking

    tracking.configure(tracking.TrackingConfig(local_dir=str(tmp_path / "mlflow")))
    client = MlflowClient()
    experiment = client.get_experiment_by_name("slowfast")
    return client, client.search_runs([experiment.experiment_id], filter_string=f"tags.`sfp.run_name` = '{name}'")


def train_workers() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if "RayTrainWorker" in " ".join(p.info["cmdline"] or [])]


def test_killed_worker_is_recovered_and_a_rerun_resumes(tmp_path, framestore):
    """One flow, to keep the suite short: a worker is killed mid-run and the group restarts from the latest
    checkpoint; then the same run name, rerun with one more epoch, resumes instead of starting over."""
    from sfp_train.trainer import run_training

    config = recipe(tmp_path, framestore, "killed", epochs=3)  # 6 train clips, batch 2: 3 steps per epoch
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(result=run_training(config)), daemon=True)
    thread.start()
    run_folder = tmp_path / "runs" / "killed"
    deadline = time.monotonic() + 600
    while not list(run_folder.glob("checkpoint_*/train_state.json")):
        assert thread.is_alive() and time.monotonic() < deadline, "no first checkpoint"
        time.sleep(0.5)
    victims = train_workers()
    assert victims, "no Ray Train worker process found"
    victims[-1].kill()
    thread.join(timeout=900)
    result = outcome["result"]
    assert result.metrics["global_step"] == 3 * 3  # the same optimiser steps as an uninterrupted run
    assert result.metrics["epoch"] == 3

    resumed = run_training(recipe(tmp_path, framestore, "killed", epochs=4))
    assert resumed.metrics["global_step"] == 4 * 3 and resumed.metrics["epoch"] == 4

    client, runs = mlflow_runs(tmp_path, "killed")
    assert len(runs) == 1  # one MLflow run across the restart and the rerun
    epochs_logged = {m.step for m in client.get_metric_history(runs[0].info.run_id, "train/top1")}
    assert epochs_logged == {1, 2, 3, 4}
    assert len({m.step for m in client.get_metric_history(runs[0].info.run_id, "train/loss")}) == 4 * 3

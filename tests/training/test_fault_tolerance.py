"""Failures and elastic worker counts, in one run (each Ray Train start costs the suite most of a minute): a killed
training worker is recovered from the latest checkpoint, and a rerun with the same run name, where only one of its
two workers fits, resumes on that one; both end with the optimiser steps of an uninterrupted run, in one MLflow run.

The training clips are shuffled and augmented afresh on every run (unseeded Ray Data shuffle and sampling), so the
weights of two runs cannot be compared. What is deterministic, and asserted: the optimiser steps, the world size per
epoch, and that the state a 1-worker engine loads from a 2-worker checkpoint is exactly the saved one (weights and
Nesterov momentum; ZeRO stage 0, which elastic recipes need: the whole optimiser state is in rank 0's file). That 1
worker accumulating 2 micro batches takes the same step as 2 workers is `test_parallel_layouts.py`'s proof."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch

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


STEPS_PER_EPOCH = 3  # 6 training clips, global batch 2


def recipe(tmp_path: Path, framestore: str, name: str, epochs: int, cpus_per_worker: float = 1) -> TrainRecipe:
    """1 to 2 workers, micro batch 1: 2 workers take 1 micro batch per step, 1 worker accumulates 2."""
    return validate(TrainRecipe, {
        "name": name,
        "data": {"framestore": framestore, "train_short_side": [64, 64], "crop_size": 64, "flip": False,
                 "test_short_side": 64, "test_crop_size": 64, "loader_batch_size": 2},
        "model": {"depth": 18, "width": 8, "slow_frames": 2, "alpha": 4, "fusion_kernel_size": 3, "crop_size": 64},
        "optim": {"epochs": epochs, "batch_size": 2, "warmup_epochs": 0},
        "engine": {"zero_stage": 0},
        "scaling": {"num_workers": 2, "min_workers": 1, "cpus_per_worker": cpus_per_worker, "max_failures": 2},
        "checkpoint": {"storage_uri": str(tmp_path / "runs"), "keep": 5},
        "tracking": {"local_dir": str(tmp_path / "mlflow")},
        "log_every_n_steps": 1,
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


def test_killed_worker_is_recovered_and_a_rerun_resumes_on_the_one_worker_that_fits(tmp_path, framestore):
    """3 epochs on 2 workers with one killed after the first checkpoint (the group restarts from it); then the same
    run name with one more epoch, asking 5 CPUs per worker of the 8-CPU cluster: Ray Train starts only 1 (min_workers),
    which restores the 2-worker checkpoint, accumulates 2 micro batches per step and ends with the steps of an
    uninterrupted run."""
    from sfp_train.checkpoints import read_train_state
    from sfp_train.trainer import run_training

    outcome: dict = {}
    config = recipe(tmp_path, framestore, "killed", epochs=3)
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
    assert result.metrics["global_step"] == 3 * STEPS_PER_EPOCH  # the same optimiser steps as an uninterrupted run
    assert result.metrics["epoch"] == 3
    # the epoch-1 checkpoint, written before the kill (the restarted group is elastic too: 1 or 2 workers)
    written_by_two = next(path for path in sorted(run_folder.glob("checkpoint_*"))
                          if read_train_state(path).epoch == 1)
    assert read_train_state(written_by_two).world_size == 2

    resumed = run_training(recipe(tmp_path, framestore, "killed", epochs=4, cpus_per_worker=5))
    assert (resumed.metrics["epoch"], resumed.metrics["global_step"]) == (4, 4 * STEPS_PER_EPOCH)
    assert resumed.metrics["train/world_size"] == 1
    state = read_train_state(Path(resumed.checkpoint_uri))
    assert (state.epoch, state.global_step, state.world_size) == (4, 4 * STEPS_PER_EPOCH, 1)

    client, runs = mlflow_runs(tmp_path, "killed")
    assert len(runs) == 1  # one MLflow run across the restart and the rerun
    run_id = runs[0].info.run_id
    assert {m.step for m in client.get_metric_history(run_id, "train/top1")} == {1, 2, 3, 4}
    world_sizes = {m.step: m.value for m in client.get_metric_history(run_id, "train/world_size")}
    assert set(world_sizes) == {1, 2, 3, 4} and world_sizes[1] == 2.0 and world_sizes[4] == 1.0
    # one train/loss per optimiser step, at either world size
    assert len({m.step for m in client.get_metric_history(run_id, "train/loss")}) == 4 * STEPS_PER_EPOCH

    loaded = load_at_one_worker(written_by_two, tmp_path / "loaded.pt")
    assert loaded["global_steps"] == STEPS_PER_EPOCH and loaded["accumulation"] == 2
    saved_model = torch.load(written_by_two / "model.pt", weights_only=False)["model_state"]
    assert loaded["weights"].keys() == saved_model.keys()
    for name, value in saved_model.items():
        torch.testing.assert_close(loaded["weights"][name], value, rtol=0, atol=0, msg=name)
    # ZeRO stage 0: rank 0's file holds the client optimiser's whole state (every parameter's momentum)
    saved = torch.load(written_by_two / "deepspeed" / "mp_rank_00_model_states.pt",
                       weights_only=False)["optimizer"]["state"]
    momentum = loaded["optimizer"]["state"]
    assert momentum.keys() == saved.keys() and len(saved) == sum(1 for _ in first_model_parameters(written_by_two))
    for index, buffers in saved.items():
        assert buffers["momentum_buffer"].abs().sum() > 0  # trained momentum, not a fresh optimiser's
        torch.testing.assert_close(momentum[index]["momentum_buffer"], buffers["momentum_buffer"], rtol=0, atol=0)


def first_model_parameters(checkpoint: Path):
    from sfp_train.checkpoints import load_model_file

    model, _, _ = load_model_file(checkpoint / "model.pt")
    return model.parameters()


def load_at_one_worker(checkpoint: Path, output: Path) -> dict:
    """This file as a script: a 1-worker engine (gloo, world size 1) loads `checkpoint` with the loop's code."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run([sys.executable, __file__, str(checkpoint), str(output), str(port)], check=True, timeout=900)
    return torch.load(output, weights_only=False)


def _load_and_save(checkpoint: str, output: str, port: str) -> None:
    import torch.distributed as dist

    from sfp_train.checkpoints import read_train_state
    from sfp_train.engine import build_engine, load_engine_state
    from sfp_train.models.config import ModelConfig, build_model

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=0, world_size=1)
    try:
        recipe = TrainRecipe.model_validate(read_train_state(Path(checkpoint)).recipe)
        payload = torch.load(Path(checkpoint) / "model.pt", weights_only=False)
        torch.manual_seed(recipe.seed + 1)  # other initial weights than the run's: the load must set them
        model = build_model(ModelConfig.model_validate(payload["model_config"]), num_classes=len(payload["classes"]))
        engine = build_engine(model, engine=recipe.engine, optim=recipe.optim, micro_batch_size=recipe.micro_batch_size,
                              device=torch.device("cpu"), grad_accumulation=recipe.grad_accumulation_at(1))
        load_engine_state(engine, checkpoint)
        torch.save({"weights": engine.module.state_dict(), "optimizer": engine.optimizer.state_dict(),
                    "global_steps": engine.global_steps, "accumulation": engine.gradient_accumulation_steps()},
                   output)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    _load_and_save(*sys.argv[1:4])

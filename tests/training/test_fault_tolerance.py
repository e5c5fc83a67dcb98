"""Failures and elastic worker counts, in one run (each Ray Train start costs the suite most of a minute): a killed
training worker is recovered from the latest checkpoint, and a rerun with the same run name, where only one worker
fits, resumes on that one, in one MLflow run. The recipe's batch of 3 clips at micro batch 1 is exact at 1 (and 3)
workers, not at the 2 that the first run gets: there each worker accumulates round(3 / 2) = 2 micro batches, a global
batch of 4, the learning rate x 4/3, an epoch of 6 clips in 1 step instead of 2. Both runs end with the optimiser
steps that the world size of each epoch gives, and every step's logged learning rate is the schedule's at its epoch
position for that global batch.

The layout changes with the world size (which clips each worker reads, how many it accumulates), so the weights are
not compared with an uninterrupted run here (`test_resume_within_epoch.py` does that on one layout). What is
asserted: the optimiser steps, the world size per epoch, a checkpoint within an epoch (`checkpoint.every_n_steps`),
and that the state a 1-worker engine loads from a 2-worker checkpoint is exactly the saved one (weights and Nesterov
momentum; ZeRO stage 0, which elastic recipes need: the whole optimiser state is in rank 0's file). That 1 worker
accumulating 2 micro batches takes the same step as 2 workers is `test_parallel_layouts.py`'s proof."""

from __future__ import annotations

import json
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


RECIPE_STEPS = 2  # 6 training clips, global batch 3
STEPS = {1: 2, 2: 1}  # optimiser steps per epoch at 1 worker (batch 3) and at 2 (batch 4: 6 clips // 4)
GLOBAL_BATCH = {1: 3, 2: 4}


def recipe(tmp_path: Path, framestore: str, name: str, epochs: int, cpus_per_worker: float = 3,
           every_n_steps: int | None = None) -> TrainRecipe:
    """1 to 3 workers, micro batch 1; 3 CPUs per worker on the 8-CPU cluster: 2 workers fit, not 3."""
    return validate(TrainRecipe, {
        "name": name,
        "data": {"framestore": framestore, "train_short_side": [64, 64], "crop_size": 64, "flip": False,
                 "test_short_side": 64, "test_crop_size": 64, "loader_batch_size": 2},
        "model": {"depth": 18, "width": 8, "slow_frames": 2, "alpha": 4, "fusion_kernel_size": 3, "crop_size": 64},
        "optim": {"epochs": epochs, "batch_size": 3, "warmup_epochs": 0},
        "engine": {"zero_stage": 0},
        "scaling": {"num_workers": 3, "min_workers": 1, "cpus_per_worker": cpus_per_worker, "max_failures": 2},
        "checkpoint": {"storage_uri": str(tmp_path / "runs"), "keep": 8, "every_n_steps": every_n_steps},
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


def latest_per_step(client, run_id: str, key: str) -> dict[int, float]:
    """A metric's value at each step as the run ended: a step that a killed group had logged and the restarted group
    logged again keeps the later value."""
    history = sorted(client.get_metric_history(run_id, key), key=lambda metric: metric.timestamp)
    return {metric.step: metric.value for metric in history}


def scheduled_learning_rates(world_sizes: dict[int, float], epochs_of_run: dict[int, int]) -> dict[int, float]:
    """The learning rate of every optimiser step: epoch `e` at its world size takes STEPS steps, step k at epoch
    position e - 1 + k / steps, scaled to its global batch; `epochs_of_run[e]` is the recipe's epochs then."""
    from sfp_train.recipe import OptimConfig
    from sfp_train.schedule import learning_rate

    rates, step = {}, 0
    for epoch in sorted(world_sizes):
        workers = int(world_sizes[epoch])
        optim = OptimConfig(epochs=epochs_of_run[epoch], batch_size=3, warmup_epochs=0)
        for k in range(STEPS[workers]):
            step += 1
            rates[step] = learning_rate(optim, epoch - 1 + k / STEPS[workers], GLOBAL_BATCH[workers])
    return rates


def registered_checkpoints(run_folder: Path) -> list[Path]:
    """The checkpoints Ray Train registered (its snapshot lists them once every rank's upload is done), oldest
    first. A folder that is not listed is one whose upload was cut short, by the kill: Ray Train never restores it."""
    try:
        snapshot = json.loads((run_folder / "checkpoint_manager_snapshot.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or being written
        return []
    return sorted(run_folder / result["checkpoint_dir_name"] for result in snapshot["checkpoint_results"])


def train_workers() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if "RayTrainWorker" in " ".join(p.info["cmdline"] or [])]


def test_killed_worker_is_recovered_and_a_rerun_resumes_on_the_one_worker_that_fits(tmp_path, framestore):
    """3 epochs on 2 workers (3 do not fit) with one killed after the first checkpoint (the group restarts from it, at
    1 or 2 workers); then the same run name with one more epoch, asking 5 CPUs per worker: Ray Train starts only 1
    (min_workers), which restores the 2-worker checkpoint, accumulates 3 micro batches per step at the recipe's batch
    and learning rate, and ends with the steps that each epoch's world size gives."""
    from sfp_train.checkpoints import read_train_state
    from sfp_train.workflow import PretrainTask, train

    def run_training(config):  # the workflow's training half: no final evaluation or registration
        return train(config, PretrainTask(config))

    outcome: dict = {}
    config = recipe(tmp_path, framestore, "killed", epochs=3)
    thread = threading.Thread(target=lambda: outcome.update(result=run_training(config)), daemon=True)
    thread.start()
    run_folder = tmp_path / "runs" / "killed"
    deadline = time.monotonic() + 600
    while not registered_checkpoints(run_folder):  # uploaded and registered: a kill mid-upload leaves a part
        assert thread.is_alive() and time.monotonic() < deadline, "no first checkpoint"
        time.sleep(0.5)
    victims = train_workers()
    assert victims, "no Ray Train worker process found"
    victims[-1].kill()
    thread.join(timeout=900)
    result = outcome["result"]
    assert result.metrics["epoch"] == 3
    client, runs = mlflow_runs(tmp_path, "killed")
    first_world_sizes = latest_per_step(client, runs[0].info.run_id, "train/world_size")
    assert set(first_world_sizes) == {1, 2, 3} and first_world_sizes[1] == 2.0  # the epoch before the kill
    # the optimiser steps of the epochs' world sizes: 1 per epoch at 2 workers (global batch 4), 2 at 1 (batch 3)
    assert result.metrics["global_step"] == sum(STEPS[int(size)] for size in first_world_sizes.values())
    # the epoch-1 checkpoint, written before the kill (the restarted group is elastic too: 1 or 2 workers)
    written_by_two = next(path for path in registered_checkpoints(run_folder)
                          if read_train_state(path).epoch == 1)
    assert read_train_state(written_by_two).world_size == 2

    resumed = run_training(recipe(tmp_path, framestore, "killed", epochs=4, cpus_per_worker=5, every_n_steps=1))
    total_steps = result.metrics["global_step"] + STEPS[1]
    assert (resumed.metrics["epoch"], resumed.metrics["global_step"]) == (4, total_steps)
    # every_n_steps: 1 adds a checkpoint within the 2-step epoch (its last step is the epoch's own checkpoint)
    states = [read_train_state(path) for path in registered_checkpoints(run_folder)]
    within = [state for state in states if state.step_in_epoch]
    assert [(s.epoch, s.step_in_epoch, s.global_step) for s in within] == [(3, 1, total_steps - 1)]
    assert resumed.metrics["train/world_size"] == 1
    state = read_train_state(Path(resumed.checkpoint_uri))
    assert (state.epoch, state.global_step, state.world_size) == (4, total_steps, 1)

    client, runs = mlflow_runs(tmp_path, "killed")
    assert len(runs) == 1  # one MLflow run across the restart and the rerun
    run_id = runs[0].info.run_id
    assert {m.step for m in client.get_metric_history(run_id, "train/top1")} == {1, 2, 3, 4}
    world_sizes = latest_per_step(client, run_id, "train/world_size")
    assert set(world_sizes) == {1, 2, 3, 4} and world_sizes[1] == 2.0 and world_sizes[4] == 1.0
    # each epoch logs the global batch of its world size and the learning-rate scale of the linear rule
    batches = latest_per_step(client, run_id, "train/effective_batch")
    scales = latest_per_step(client, run_id, "train/lr_scale")
    assert batches == {epoch: GLOBAL_BATCH[int(size)] for epoch, size in world_sizes.items()}
    assert scales == pytest.approx({epoch: GLOBAL_BATCH[int(size)] / 3 for epoch, size in world_sizes.items()})
    # the schedule: one train/lr per optimiser step, each the cosine's value at its epoch position x the scale
    # (epochs 1-3 under the first run's 3-epoch cosine, epoch 4 under the rerun's 4)
    rates = latest_per_step(client, run_id, "train/lr")
    assert rates == pytest.approx(scheduled_learning_rates(world_sizes, {1: 3, 2: 3, 3: 3, 4: 4}), rel=1e-9)
    assert len(rates) == total_steps
    assert len({m.step for m in client.get_metric_history(run_id, "train/loss")}) == total_steps

    loaded = load_at_one_worker(written_by_two, tmp_path / "loaded.pt")
    assert loaded["global_steps"] == STEPS[2] and loaded["accumulation"] == 3
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
        torch.testing.assert_close(momentum[index]["momentum_buffer"], buffers["momentum_buffer"], rtol=0, atol=0)
    # trained momentum, not a fresh optimiser's. The checkpoint is one step old (epoch 1 at 2 workers): the weights
    # behind each residual branch's zero-initialised last BN had no gradient yet (60% of this network's parameters),
    # so their momentum is still 0; the others' is not
    trained = [index for index, buffers in saved.items() if buffers["momentum_buffer"].abs().sum() > 0]
    assert len(trained) >= len(saved) // 4


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

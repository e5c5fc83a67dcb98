"""Elastic worker counts: the micro batch is fixed, each worker accumulates `batch / (workers x micro batch)` micro
batches, so the global batch and the steps per epoch are the recipe's at any number of workers; a checkpoint written
by 2 workers resumes on 1 (ZeRO stage 0: the whole optimiser state is in rank 0's file).

The training clips are shuffled and augmented afresh on every run (unseeded Ray Data shuffle and sampling), so two
runs never see the same clips and their weights cannot be compared. What is deterministic, and asserted: the
optimiser steps, the world size recorded per epoch, and that the state a 1-worker engine loads from a 2-worker
checkpoint is exactly the saved one (weights and Nesterov momentum). That 1 worker accumulating 2 micro batches takes
the same step as 2 workers is `test_parallel_layouts.py`'s proof."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sfp.config import validate
from sfp.errors import ConfigError
from sfp_train.engine import deepspeed_config
from sfp_train.recipe import TrainRecipe, grad_accumulation
from sfp_train.trainer import _num_workers

pytestmark = pytest.mark.slow

BASE = {"name": "r", "data": {"framestore": "/tmp/x", "crop_size": 224}}
STEPS_PER_EPOCH = 3  # 6 training clips, global batch 2


# --- the accumulation for each number of workers (no Ray) ---

def test_accumulation_keeps_the_global_batch_at_every_world_size():
    assert [grad_accumulation(12, 2, workers) for workers in (1, 2, 3, 6)] == [6, 3, 2, 1]
    with pytest.raises(ValueError, match="optim.batch_size 12 is not divisible by 4 workers x micro batch 2"):
        grad_accumulation(12, 2, 4)


def test_elastic_recipe_fixes_the_micro_batch_and_derives_the_accumulation():
    recipe = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 12},
                                    "scaling": {"num_workers": 3, "min_workers": 1},
                                    "engine": {"zero_stage": 0, "grad_accumulation": 2}})
    assert recipe.scaling.elastic and list(recipe.scaling.world_sizes) == [1, 2, 3]
    assert recipe.micro_batch_size == 2  # sized for num_workers x grad_accumulation
    assert [recipe.grad_accumulation_at(workers) for workers in (1, 2, 3)] == [6, 3, 2]
    config = deepspeed_config(recipe.engine, recipe.optim, recipe.micro_batch_size, "fp32", 6)
    assert (config["train_batch_size"], config["train_micro_batch_size_per_gpu"],
            config["gradient_accumulation_steps"]) == (12, 2, 6)

    assert _num_workers(recipe) == (1, 3)  # Ray Train's elastic form

    fixed = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 8}, "scaling": {"num_workers": 2},
                                   "engine": {"grad_accumulation": 2}})
    assert not fixed.scaling.elastic and list(fixed.scaling.world_sizes) == [2] and _num_workers(fixed) == 2
    assert fixed.grad_accumulation_at(2) == fixed.engine.grad_accumulation == 2
    one_count = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 8},
                                       "scaling": {"num_workers": 2, "min_workers": 2}})
    assert not one_count.scaling.elastic and _num_workers(one_count) == 2  # ZeRO stage 1 stays allowed


@pytest.mark.parametrize("overrides, message", [
    ({"scaling": {"num_workers": 2, "min_workers": 3}, "engine": {"zero_stage": 0}},
     r"^config: scaling: Value error, min_workers 3 is larger than num_workers 2$"),
    ({"scaling": {"num_workers": 2, "min_workers": 0}, "engine": {"zero_stage": 0}},
     r"^config: scaling.min_workers: Input should be greater than or equal to 1"),
    ({"optim": {"batch_size": 8}, "scaling": {"num_workers": 4, "min_workers": 2}, "engine": {"zero_stage": 0}},
     r"optim.batch_size 8 cannot be split at 3 workers \(scaling.min_workers 2 to num_workers 4\): not divisible "
     r"by 3 x the micro batch 2$"),
    ({"optim": {"batch_size": 8}, "scaling": {"num_workers": 2, "min_workers": 1}},
     r"engine.zero_stage 1 with scaling.min_workers: elastic runs need zero_stage 0, since DeepSpeed cannot reload "
     r"ZeRO-partitioned optimiser state at another number of workers$"),
])
def test_elastic_recipe_errors_are_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        validate(TrainRecipe, {**BASE, **overrides})
    assert "\n" not in str(error.value)


# --- a run that changes its number of workers (Ray Train, DeepSpeed) ---

@pytest.fixture(scope="module")
def framestore(tmp_path_factory, ray_cluster) -> str:
    from sfp_preprocess.config import PreprocessConfig
    from sfp_preprocess.job import run_preprocess
    from sfp_preprocess.synth.render import SynthConfig, render_dataset

    root = tmp_path_factory.mktemp("elastic")
    synth = SynthConfig(clips_per_class=4, width=96, height=72, classes=["move_left", "move_right"])
    render_dataset(synth, root / "data")
    run_preprocess(validate(PreprocessConfig, {
        "dataset": {"manifest": str(root / "data" / "annotations.csv"), "video_root": str(root / "data" / "videos")},
        "decode": {"short_side": 64}, "output": {"uri": str(root / "store")},
    }))
    return str(root / "store")


def elastic_recipe(tmp_path: Path, framestore: str, *, epochs: int, cpus_per_worker: float) -> TrainRecipe:
    """1 to 2 workers, micro batch 1: 2 workers take 1 micro batch per step, 1 worker accumulates 2."""
    return validate(TrainRecipe, {
        "name": "elastic",
        "data": {"framestore": framestore, "train_short_side": [64, 64], "crop_size": 64, "flip": False,
                 "test_short_side": 64, "test_crop_size": 64, "loader_batch_size": 2},
        "model": {"depth": 18, "width": 8, "slow_frames": 2, "alpha": 4, "fusion_kernel_size": 3, "crop_size": 64},
        "optim": {"epochs": epochs, "batch_size": 2, "warmup_epochs": 0},
        "engine": {"zero_stage": 0},
        "scaling": {"num_workers": 2, "min_workers": 1, "cpus_per_worker": cpus_per_worker, "max_failures": 0},
        "checkpoint": {"storage_uri": str(tmp_path / "runs"), "keep": 5},
        "tracking": {"local_dir": str(tmp_path / "mlflow")},
    })


def world_sizes_logged(tmp_path: Path) -> tuple[dict[int, float], int]:
    """`train/world_size` per epoch and the number of logged optimiser steps, from the run's one MLflow run."""
    from mlflow.tracking import MlflowClient

    from sfp import tracking

    tracking.configure(tracking.TrackingConfig(local_dir=str(tmp_path / "mlflow")))
    client = MlflowClient()
    experiment = client.get_experiment_by_name("slowfast")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`sfp.run_name` = 'elastic'")
    assert len(runs) == 1
    run_id = runs[0].info.run_id
    world_sizes = {m.step: m.value for m in client.get_metric_history(run_id, "train/world_size")}
    return world_sizes, len({m.step for m in client.get_metric_history(run_id, "train/loss")})


def test_a_run_started_on_two_workers_resumes_on_the_one_that_fits(tmp_path, framestore):
    """Epoch 1 on 2 workers (both fit); the rerun asks 5 CPUs per worker of the 8-CPU cluster, so Ray Train starts
    only 1 (min_workers), which restores the 2-worker checkpoint and ends with an uninterrupted run's steps."""
    from sfp_train.checkpoints import read_train_state
    from sfp_train.trainer import run_training

    first = run_training(elastic_recipe(tmp_path, framestore, epochs=1, cpus_per_worker=1))
    assert (first.metrics["train/world_size"], first.metrics["global_step"]) == (2, STEPS_PER_EPOCH)
    written_by_two = Path(first.checkpoint_uri)
    assert read_train_state(written_by_two).world_size == 2

    resumed = run_training(elastic_recipe(tmp_path, framestore, epochs=3, cpus_per_worker=5))
    assert resumed.metrics["train/world_size"] == 1
    assert (resumed.metrics["epoch"], resumed.metrics["global_step"]) == (3, 3 * STEPS_PER_EPOCH)
    state = read_train_state(Path(resumed.checkpoint_uri))
    assert (state.epoch, state.global_step, state.world_size) == (3, 3 * STEPS_PER_EPOCH, 1)
    world_sizes, steps_logged = world_sizes_logged(tmp_path)
    assert world_sizes == {1: 2.0, 2: 1.0, 3: 1.0}
    assert steps_logged == 3 * STEPS_PER_EPOCH  # one train/loss per optimiser step, at either world size

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

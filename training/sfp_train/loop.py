"""The per-worker training loop (Ray Train `train_loop_per_worker`), read top to bottom as the paper's recipe.

Every worker builds the same SlowFast, wraps it in a DeepSpeed engine, and streams its shard of the training clips
from Ray Data. Each epoch: SGD steps with the recipe's learning-rate schedule, then validation, then (on schedule) a
checkpoint through Ray Train. Rank 0 alone logs to MLflow. A restarted run resumes from Ray Train's latest
checkpoint and ends with the same number of optimiser steps as an uninterrupted one.

The global batch is the recipe's at any number of workers: the micro batch is fixed and each worker accumulates
`batch / (workers x micro batch)` micro batches per optimiser step, so an elastic run that restarts with another
number of workers keeps its schedule (the steps per epoch come from the driver, counted in global batches).

What is learnt comes from the task object in the loop config (`sfp_train.tasks`): classification (Kinetics:
cross-entropy, top-k) by default, or detection (AVA: BCE per action over person boxes, val frame mAP). A fine-tuning
run also hands over its initial weights (an object ref of the transferred state dict).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from sfp import tracking
from sfp_train import checkpoints, engine as engines
from sfp_train.models.config import build_model
from sfp_train.schedule import learning_rate
from sfp_train.tasks import ClassificationTask, all_reduce


def train_epoch(model_engine, shard, recipe, task, epoch: int, steps_per_epoch: int, device, run_id) -> dict:
    """One epoch of SGD; returns the epoch's train metrics (summed over workers)."""
    import ray.train

    model_engine.train()
    accumulation = model_engine.gradient_accumulation_steps()  # for this run's number of workers
    micro_steps = steps_per_epoch * accumulation
    sums: dict[str, float] = {}
    clips = data_wait = 0.0
    started = time.perf_counter()
    batches = iter(shard.iter_torch_batches(batch_size=recipe.micro_batch_size, drop_last=True))
    for micro_step in range(micro_steps):
        waited = time.perf_counter()
        batch = next(batches)
        data_wait += time.perf_counter() - waited
        lr = learning_rate(recipe.optim, epoch + (micro_step // accumulation) / steps_per_epoch)
        engines.set_learning_rate(model_engine, lr)
        loss, stats = task.train_step(model_engine, batch, device)
        model_engine.backward(loss)
        model_engine.step()
        sums = {key: sums.get(key, 0.0) + value for key, value in stats.items()}
        clips += len(batch["pathway_0"])
        if run_id and (micro_step + 1) % accumulation == 0:
            tracking.log_metrics(run_id, {"train/loss": loss.item(), "train/lr": lr}, step=model_engine.global_steps)
    elapsed = time.perf_counter() - started
    keys = sorted(sums)
    reduced = all_reduce([sums[key] for key in keys] + [clips, data_wait, elapsed], device)
    *values, clips, data_wait, elapsed = reduced
    workers = ray.train.get_context().get_world_size()
    return {
        **task.train_metrics(dict(zip(keys, values))),
        "train/clips_per_s": clips / (elapsed / workers),
        "train/data_wait_share": data_wait / elapsed,
    }


def broadcast_buffers(module: torch.nn.Module) -> None:
    """BatchNorm statistics of rank 0 on every rank (DeepSpeed, unlike DDP, leaves buffers per rank), so that every
    rank validates the model the checkpoint holds (rank 0's)."""
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def save_checkpoint(model_engine, recipe, classes: list[str], state: checkpoints.TrainState, metrics: dict) -> None:
    """Every rank writes its DeepSpeed state; rank 0 adds the plain model and the train state; Ray Train uploads."""
    import ray.train

    with tempfile.TemporaryDirectory(prefix="sfp-ckpt-") as folder:
        engines.save_engine_state(model_engine, folder)
        if ray.train.get_context().get_world_rank() == 0:
            module = model_engine.module
            checkpoints.write_model_file(Path(folder), module, recipe.model.model_dump(mode="json"), classes)
            checkpoints.write_train_state(Path(folder), state)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


def restore(model_engine, world_size: int) -> checkpoints.TrainState | None:
    """The latest checkpoint's engine and train state; rank 0 says so when it was written by another number of
    workers (ZeRO stage 0, which elastic recipes require, reloads at any)."""
    import ray.train

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        engines.load_engine_state(model_engine, folder)
        state = checkpoints.read_train_state(Path(folder))
    saved = state.world_size
    if saved is not None and saved != world_size and ray.train.get_context().get_world_rank() == 0:
        print(f"sfp: resuming at epoch {state.epoch} (step {state.global_step}) with {world_size} workers; "
              f"the checkpoint was written by {saved}", flush=True)
    return state


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    import ray
    import ray.train
    import ray.train.torch

    classes: list[str] = loop_config["classes"]
    task = loop_config.get("task") or ClassificationTask(classes)  # what is learnt: loss, metrics, validation
    recipe = task.recipe(loop_config["recipe"])
    steps_per_epoch: int = loop_config["steps_per_epoch"]
    rank = ray.train.get_context().get_world_rank()
    world_size = ray.train.get_context().get_world_size()  # elastic runs: any count in the recipe's range
    run_id = loop_config["mlflow_run_id"] if rank == 0 else None
    if run_id:
        tracking.use_tracking_uri(loop_config["tracking_uri"])
    torch.manual_seed(recipe.seed)  # the same initial weights on every worker
    device = ray.train.torch.get_device()

    model = build_model(recipe.model, num_classes=task.num_outputs)
    if loop_config.get("initial_weights") is not None:  # fine-tuning: the transferred backbone and a new head
        model.load_state_dict(ray.get(loop_config["initial_weights"]))
    model = model.to(device)
    model_engine = engines.build_engine(
        model, engine=recipe.engine, optim=recipe.optim, micro_batch_size=recipe.micro_batch_size, device=device,
        grad_accumulation=recipe.grad_accumulation_at(world_size),
    )
    state = restore(model_engine, world_size) or checkpoints.TrainState(
        epoch=0, global_step=0, recipe=loop_config["recipe"], world_size=world_size
    )
    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")

    for epoch in range(state.epoch, recipe.optim.epochs):
        metrics = train_epoch(model_engine, train_shard, recipe, task, epoch, steps_per_epoch, device, run_id)
        last_epoch = epoch + 1 == recipe.optim.epochs
        if (epoch + 1) % recipe.val_every_n_epochs == 0 or last_epoch:
            broadcast_buffers(model_engine.module)
            metrics.update(task.validate(model_engine, val_shard, recipe.micro_batch_size, device))
        metrics["epoch"] = epoch + 1
        metrics["train/world_size"] = world_size
        if run_id:
            tracking.log_metrics(run_id, {k: v for k, v in metrics.items() if k != "epoch"}, step=epoch + 1)
        state = checkpoints.TrainState(epoch + 1, model_engine.global_steps, loop_config["recipe"],
                                       loop_config["mlflow_run_id"], world_size)
        if (epoch + 1) % recipe.checkpoint.every_n_epochs == 0 or last_epoch:
            save_checkpoint(model_engine, recipe, classes, state, {**metrics, "global_step": state.global_step})
        else:
            ray.train.report({**metrics, "global_step": state.global_step})

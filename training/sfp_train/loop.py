"""The per-worker training loop (Ray Train `train_loop_per_worker`), read top to bottom as the paper's recipe.

Every worker builds the same SlowFast, wraps it in a DeepSpeed engine, and streams its share of the epoch's training
clips from Ray Data in the recipe's seeded order (`sfp_train.data.order`). Each epoch: SGD steps with the recipe's
learning-rate schedule (a checkpoint every `checkpoint.every_n_steps` on the way, if set), then validation, then (on
schedule) a checkpoint through Ray Train, uploaded while training goes on. Rank 0 alone logs to MLflow. A restarted
run resumes from Ray Train's latest checkpoint, in the middle of an epoch if it was written there, and ends with the
same optimiser steps and, on the same layout, the same weights as an uninterrupted one: the data and the dropout
masks of each step are drawn from the recipe's seed and the step.

The micro batch is fixed and each worker accumulates `round(batch / (workers x micro batch))` micro batches per
optimiser step: the recipe's global batch at any count that divides it, the nearest one elsewhere with the learning
rate scaled linearly (`sfp_train.recipe.ElasticBatch`). An epoch is the recipe's clips at any count (the driver's
steps per epoch, counted in recipe batches, converted here), so an elastic run that restarts with another number of
workers keeps the schedule's epoch positions.

What is learnt comes from the task object in the loop config (`sfp_train.tasks`): classification (Kinetics:
cross-entropy, top-k) by default, or detection (AVA: BCE per action over person boxes, val frame mAP). A fine-tuning
run also hands over its initial weights (an object ref of the transferred state dict).
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist

from sfp import progress, tracking
from sfp_train import checkpoints, engine as engines
from sfp_train.data.feed import device_batches
from sfp_train.data.order import SeededFeed
from sfp_train.models.config import build_model
from sfp_train.schedule import learning_rate
from sfp_train.tasks import ClassificationTask, all_reduce


class IntervalLogger:
    """Rank 0's `train/loss` and `train/lr`: the micro batches' losses are summed on the device and read once every
    `every` optimiser steps (the loop's one host synchronisation), and MLflow logs them on its own thread."""

    def __init__(self, run_id: str, every: int) -> None:
        self.run_id, self.every = run_id, every
        self.loss_sum: torch.Tensor | None = None
        self.micro_batches = 0
        self.last_loss: float | None = None  # the latest interval's mean, for the progress display

    def micro_batch(self, loss: torch.Tensor) -> None:
        self.loss_sum = loss.detach() if self.loss_sum is None else self.loss_sum + loss.detach()
        self.micro_batches += 1

    def optimizer_step(self, global_step: int, lr: float) -> None:
        if global_step % self.every or self.loss_sum is None:
            return
        mean_loss = self.last_loss = float(self.loss_sum) / self.micro_batches
        tracking.log_metrics(self.run_id, {"train/loss": mean_loss, "train/lr": lr}, step=global_step,
                             synchronous=False)
        self.loss_sum, self.micro_batches = None, 0


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (timing only: CUDA kernels run behind the host)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seed_step(seed: int, rank: int, global_step: int) -> None:
    """Random numbers of the model (dropout) for one optimiser step, from the recipe's seed: a resumed run draws
    what the uninterrupted one drew at that step."""
    torch.manual_seed((seed * 1_000_003 + rank) * 1_000_003 + global_step)


def train_epoch(model_engine, batches: Iterator[dict], recipe, task, epoch: int, steps_per_epoch: int, device,
                precision: str, logger: IntervalLogger | None, *, start_step: int = 0,
                after_step: Callable[[int], None] | None = None) -> dict:
    """One epoch of SGD on `batches` (already on the device), from optimiser step `start_step` of the epoch (a run
    resumed within it); `after_step(steps done in the epoch)` follows every optimiser step. Returns the train metrics
    of the steps run (summed over workers). Nothing here waits for the device except the logger's interval and the
    sums at the end."""
    model_engine.train()
    accumulation = model_engine.gradient_accumulation_steps()  # for this run's number of workers
    micro_steps = steps_per_epoch * accumulation
    sums: dict[str, Any] = {}
    clips = data_wait = 0.0
    started = time.perf_counter()
    for micro_step in range(start_step * accumulation, micro_steps):
        if micro_step % accumulation == 0:
            seed_step(recipe.seed, dist.get_rank(), model_engine.global_steps)
        waited = time.perf_counter()
        batch = next(batches)
        data_wait += time.perf_counter() - waited
        lr = learning_rate(recipe.optim, epoch + (micro_step // accumulation) / steps_per_epoch,
                           model_engine.train_batch_size())  # the run's global batch: linear scaling when elastic
        engines.set_learning_rate(model_engine, lr)
        with engines.autocast(precision, device):
            loss, stats = task.train_step(model_engine, batch, device)
        model_engine.backward(loss)
        model_engine.step()
        sums = {key: sums[key] + value if key in sums else value for key, value in stats.items()}
        clips += len(batch["pathway_0"])
        if logger:
            logger.micro_batch(loss)
            if (micro_step + 1) % accumulation == 0:
                logger.optimizer_step(model_engine.global_steps, lr)
                progress.report_step(epoch, recipe.optim.epochs, (micro_step + 1) // accumulation, steps_per_epoch,
                                     logger.last_loss, model_engine.train_batch_size())
        if after_step and (micro_step + 1) % accumulation == 0:
            after_step((micro_step + 1) // accumulation)
    synchronize(device)
    elapsed = time.perf_counter() - started
    keys = sorted(sums)
    reduced = all_reduce([sums[key] for key in keys] + [clips, data_wait, elapsed], device)
    *values, clips, data_wait, elapsed = reduced
    workers = dist.get_world_size()  # Ray Train's workers: the process group it set up
    return {
        **task.train_metrics(dict(zip(keys, values))),
        "train/clips_per_s": clips / (elapsed / workers),
        "train/data_wait_share": data_wait / elapsed,
    }


def epoch_batches(train: SeededFeed, epoch: int, *, start_step: int, steps: int, micro_batch: int, accumulation: int,
                  device: torch.device, decoder, feed: str) -> Iterator[dict]:
    """This worker's training batches of the epoch from step `start_step`, on the device. `feed="synthetic"`
    repeats the first batch, already on the device, for the whole epoch: the same loop with no input pipeline, the
    model-only ceiling `make bench-train` compares the real feed against."""
    dataset = train.epoch_dataset(epoch, rank=dist.get_rank(), world_size=dist.get_world_size(),
                                  micro_batch=micro_batch, accumulation=accumulation, start_step=start_step,
                                  steps=steps)
    batches = iter(device_batches(dataset, micro_batch, device, decoder, drop_last=True))
    if feed == "synthetic":
        return itertools.repeat(next(batches))
    return batches


def broadcast_buffers(module: torch.nn.Module) -> None:
    """BatchNorm statistics of rank 0 on every rank (DeepSpeed, unlike DDP, leaves buffers per rank), so that every
    rank validates the model the checkpoint holds (rank 0's)."""
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def step_checkpoints(model_engine, recipe, classes: list[str], loop_config: dict, world_size: int, epoch: int,
                     steps_per_epoch: int) -> Callable[[int], None] | None:
    """`train_epoch`'s `after_step` for `checkpoint.every_n_steps`: a checkpoint within the epoch every that many
    optimiser steps (the epoch's last step is left to the epoch's own checkpoint)."""
    every = recipe.checkpoint.every_n_steps
    if not every:
        return None

    def after_step(step_in_epoch: int) -> None:
        if model_engine.global_steps % every or step_in_epoch >= steps_per_epoch:
            return
        state = checkpoints.TrainState(epoch, model_engine.global_steps, recipe.model_dump(mode="json"),
                                       loop_config["mlflow_run_id"], world_size, step_in_epoch)
        checkpoints.report_checkpoint(model_engine, recipe, classes, state,
                                      {"epoch": epoch, "global_step": state.global_step})

    return after_step


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    import ray
    import ray.train
    import ray.train.torch

    classes: list[str] = loop_config["classes"]
    task = loop_config.get("task") or ClassificationTask(classes)  # what is learnt: loss, metrics, validation
    recipe = loop_config["recipe"]  # validated on the driver: a TrainRecipe or an AvaRecipe
    recipe_dump = recipe.model_dump(mode="json")  # what each checkpoint's train state carries
    rank = ray.train.get_context().get_world_rank()
    world_size = ray.train.get_context().get_world_size()  # elastic runs: any count in the recipe's range
    elastic = recipe.batch_at(world_size)  # the global batch nearest the recipe's here (README: Elastic workers)
    steps_per_epoch = elastic.steps_per_epoch(loop_config["steps_per_epoch"])  # the driver's, at the recipe's batch
    if rank == 0 and not elastic.exact:
        print(f"sfp: {elastic.describe()}; steps per epoch: {steps_per_epoch}", flush=True)
    run_id = loop_config["mlflow_run_id"] if rank == 0 else None
    if run_id:
        tracking.use_tracking_uri(loop_config["tracking_uri"])
    logger = IntervalLogger(run_id, recipe.log_every_n_steps) if run_id else None
    torch.manual_seed(recipe.seed)  # the same initial weights on every worker
    device = ray.train.torch.get_device()
    precision = engines.resolve_precision(recipe.engine, device)

    model = build_model(recipe.model, num_classes=task.num_outputs)
    if loop_config.get("initial_weights") is not None:  # fine-tuning: the transferred backbone and a new head
        model.load_state_dict(ray.get(loop_config["initial_weights"]))
    model = model.to(device)
    model_engine = engines.build_engine(
        model, engine=recipe.engine, optim=recipe.optim, micro_batch_size=recipe.micro_batch_size, device=device,
        grad_accumulation=elastic.accumulation,
    )
    state = checkpoints.restore_latest(model_engine, world_size) or checkpoints.TrainState(
        epoch=0, global_step=0, recipe=recipe_dump, world_size=world_size
    )
    train_feed = loop_config["train_feed"]  # this worker builds its share of each epoch (seeded order)
    val_shard = ray.train.get_dataset_shard("val")
    feed = loop_config.get("feed", "dataset")
    decoders = loop_config["decoders"]  # the datasets' batches -> model inputs on this worker's device

    for epoch in range(state.epoch, recipe.optim.epochs):
        start_step = checkpoints.resumed_step(state, recipe, elastic.global_batch) if epoch == state.epoch else 0
        batches = epoch_batches(train_feed, epoch, start_step=start_step, steps=steps_per_epoch,
                                micro_batch=recipe.micro_batch_size, accumulation=elastic.accumulation, device=device,
                                decoder=decoders["train"], feed=feed)
        after_step = step_checkpoints(model_engine, recipe, classes, loop_config, world_size, epoch, steps_per_epoch)
        metrics = train_epoch(model_engine, batches, recipe, task, epoch, steps_per_epoch, device, precision, logger,
                              start_step=start_step, after_step=after_step)
        last_epoch = epoch + 1 == recipe.optim.epochs
        if (epoch + 1) % recipe.val_every_n_epochs == 0 or last_epoch:
            broadcast_buffers(model_engine.module)
            with engines.autocast(precision, device):
                metrics.update(task.validate(model_engine, val_shard, decoders["val"], recipe.micro_batch_size,
                                             device))
        metrics["epoch"] = epoch + 1
        metrics["train/world_size"] = world_size
        metrics["train/effective_batch"], metrics["train/lr_scale"] = elastic.global_batch, elastic.lr_scale
        if run_id:
            progress.report_epoch(epoch + 1, recipe.optim.epochs, metrics)
            tracking.log_metrics(run_id, {k: v for k, v in metrics.items() if k != "epoch"}, step=epoch + 1)
        state = checkpoints.TrainState(epoch + 1, model_engine.global_steps, recipe_dump,
                                       loop_config["mlflow_run_id"], world_size)
        if (epoch + 1) % recipe.checkpoint.every_n_epochs == 0 or last_epoch:
            checkpoints.report_checkpoint(model_engine, recipe, classes, state,
                                          {**metrics, "global_step": state.global_step})
        else:
            ray.train.report({**metrics, "global_step": state.global_step})
    if run_id:
        tracking.flush_async_logging()

"""What is learnt does not depend on the parallel layout: at the same global batch, 1 worker accumulating 2 micro
batches and 2 workers with 1 micro batch each run the real epoch (`loop.train_epoch`: the recipe's learning-rate
schedule, the task's loss, the DeepSpeed engine of `engine.build_engine`) on the same micro batches, and end each
epoch with the same train metrics and the same weights.

Each epoch is one optimiser step. Epoch 0's loss is on the initial weights (equal if every layout sees the same micro
batches); epoch 1's is on the weights the first step produced, and the weights after the second: equal only if
DeepSpeed averages the gradients alike over accumulation (1 worker) and over workers (2). A tiny SlowFast, fp32, gloo,
dropout off; BatchNorm normalises each micro batch of 2 clips, identical in both layouts.

The workers are plain processes with a gloo process group, as Ray Train sets one up, without a Ray cluster: one
process (this file as a script) imports torch, DeepSpeed and the loop once, then forks the 3 workers of both layouts,
so that the imports (4 s of CPU, the test's main cost) are paid once, not per worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Iterator

import torch
import torch.distributed as dist

GLOBAL_BATCH, MICRO_BATCH, EPOCHS, CLASSES = 4, 2, 2, 5
COMPARED = ("train/epoch_loss", "train/top1", "train/top5")  # not the throughput: it is timed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recipe():
    """A tiny recipe at global batch 4 and micro batch 2 (2 workers, no accumulation at its `num_workers`)."""
    from sfp_train.recipe import TrainRecipe

    return TrainRecipe.model_validate({
        "name": "layouts",
        "data": {"framestore": "unused", "crop_size": 32, "test_crop_size": 32},
        "model": {"depth": 18, "width": 8, "slow_frames": 2, "alpha": 4, "fusion_kernel_size": 5, "crop_size": 32,
                  "dropout": 0.0},
        "optim": {"optimizer": "sgd", "epochs": EPOCHS, "batch_size": GLOBAL_BATCH, "lr_per_64": 1.6,
                  "weight_decay": 0.0, "warmup_epochs": 0},
        "engine": {"precision": "fp32"},
        "scaling": {"num_workers": 2},
    })


def micro_batches(rank: int, world_size: int) -> Iterator[dict]:
    """This rank's micro batches of the global batch (the same in every process and every epoch), in the order the
    loop takes them: micro batch `m` of rank `r` is the global batch's `r * accumulation + m`-th."""
    from sfp_train.models import pathway_inputs

    generator = torch.Generator().manual_seed(1)
    clips = torch.randn(GLOBAL_BATCH, 3, 8, 32, 32, generator=generator)
    labels = torch.randint(0, CLASSES, (GLOBAL_BATCH,), generator=generator)
    accumulation = GLOBAL_BATCH // (MICRO_BATCH * world_size)
    for micro in range(accumulation):
        part = slice((rank * accumulation + micro) * MICRO_BATCH, (rank * accumulation + micro + 1) * MICRO_BATCH)
        slow, fast = pathway_inputs(clips[part], "slowfast", alpha=4)
        yield {"pathway_0": slow, "pathway_1": fast, "label": labels[part]}


def train_layout(rank: int, world_size: int, port: int, output: str) -> None:
    """`EPOCHS` epochs of one optimiser step each through `train_epoch`, as `train_loop_per_worker` sets them up;
    rank 0 saves each epoch's metrics and the final weights to `output`."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        from sfp_train.engine import build_engine
        from sfp_train.loop import train_epoch
        from sfp_train.models import build_model
        from sfp_train.tasks import ClassificationTask

        run = recipe()
        task = ClassificationTask([f"class_{index}" for index in range(CLASSES)])
        device = torch.device("cpu")
        torch.manual_seed(run.seed)  # the same initial weights in both layouts
        model = build_model(run.model, num_classes=task.num_outputs)
        engine = build_engine(model, engine=run.engine, optim=run.optim, micro_batch_size=run.micro_batch_size,
                              device=device, grad_accumulation=GLOBAL_BATCH // (MICRO_BATCH * world_size))
        metrics = [
            train_epoch(engine, micro_batches(rank, world_size), run, task, epoch, 1, device, "fp32", None)
            for epoch in range(EPOCHS)
        ]
        if rank == 0:
            weights = {name: value.detach().clone() for name, value in engine.module.state_dict().items()
                       if "running" not in name and "num_batches" not in name}
            torch.save({"metrics": metrics, "weights": weights, "steps": engine.global_steps,
                        "accumulation": engine.gradient_accumulation_steps()}, output)
    finally:
        dist.destroy_process_group()


def run_layouts(folder: Path) -> dict[int, Path]:
    """Trains both layouts at once, each worker a fork of one process that has imported everything (see above);
    returns {world size: what its rank 0 saved}."""
    torch.set_num_threads(1)  # before any op: no thread pool exists when the workers fork
    from torch import _dynamo  # noqa: F401 - the optimiser's first construction imports it: once, here
    import deepspeed  # noqa: F401
    import sfp_train.engine  # noqa: F401
    import sfp_train.loop  # noqa: F401

    outputs = {world_size: folder / f"{world_size}.pt" for world_size in (1, 2)}
    workers = []
    for world_size, output in outputs.items():
        port = free_port()
        for rank in range(world_size):
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    train_layout(rank, world_size, port, str(output))
                    status = 0
                except BaseException:  # noqa: BLE001 - the worker's traceback goes to the test's output
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(status)
            workers.append(pid)
    failed = [pid for pid in workers if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0]
    if failed:
        raise SystemExit(f"{len(failed)} of {len(workers)} workers failed")
    return outputs


def test_one_worker_accumulating_equals_two_workers_at_the_same_global_batch(tmp_path):
    subprocess.run([sys.executable, __file__, str(tmp_path)], check=True, timeout=600)
    one, two = torch.load(tmp_path / "1.pt"), torch.load(tmp_path / "2.pt")

    assert (one["accumulation"], two["accumulation"]) == (2, 1)
    assert one["steps"] == two["steps"] == EPOCHS
    for epoch, tolerance in enumerate([1e-6, 1e-5]):  # on the initial weights, then on the first step's
        for key in COMPARED:
            assert abs(one["metrics"][epoch][key] - two["metrics"][epoch][key]) <= tolerance, (epoch, key)
    # the same batch again: the loss changed only because the first step changed the weights
    assert abs(one["metrics"][1]["train/epoch_loss"] - one["metrics"][0]["train/epoch_loss"]) > 1e-3
    assert one["weights"].keys() == two["weights"].keys()
    for name in one["weights"]:
        torch.testing.assert_close(one["weights"][name], two["weights"][name], rtol=1e-5, atol=1e-6, msg=name)


if __name__ == "__main__":
    run_layouts(Path(sys.argv[1]))

"""The first steps do not depend on the parallel layout: at the same global batch, 1 worker accumulating 2 micro
batches and 2 workers with 1 micro batch each see the same micro batches, compute the same losses, and take the same
optimiser step (DeepSpeed averages over accumulation and over workers alike), so the loss after the first step and
the updated weights agree.

Both layouts run the real engine (`engine.build_engine`: DeepSpeed ZeRO-1, fp32, gloo) on a tiny SlowFast with fixed
inputs, dropout off; BatchNorm normalises each micro batch of 2 clips, identical in both layouts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

GLOBAL_BATCH, MICRO_BATCH, STEPS = 4, 2, 2

pytestmark = [pytest.mark.slow, pytest.mark.extended]  # three processes that import DeepSpeed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def global_batches() -> list[tuple[list[torch.Tensor], torch.Tensor]]:
    """`STEPS` global batches of `[slow, fast]` clips (2 and 8 frames, 32x32) and labels, the same in every process."""
    from sfp_train.models import pathway_inputs

    generator = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(STEPS):
        clips = torch.randn(GLOBAL_BATCH, 3, 8, 32, 32, generator=generator)
        labels = torch.randint(0, 5, (GLOBAL_BATCH,), generator=generator)
        batches.append((pathway_inputs(clips, "slowfast", alpha=4), labels))
    return batches


def train_steps(rank: int, world_size: int, port: int, output: str) -> None:
    """`STEPS` optimiser steps of the global batch split over `world_size` workers; rank 0 saves every micro
    batch's loss (all ranks' gathered) and the final weights to `output`."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        from sfp_train.engine import build_engine
        from sfp_train.models import ModelConfig, build_model
        from sfp_train.recipe import EngineConfig, OptimConfig

        accumulation = GLOBAL_BATCH // (MICRO_BATCH * world_size)
        torch.manual_seed(0)  # the same initial weights in both layouts
        model = build_model(ModelConfig(depth=18, width=8, slow_frames=2, alpha=4, fusion_kernel_size=5,
                                        crop_size=32, dropout=0.0), num_classes=5)
        engine = build_engine(
            model,
            engine=EngineConfig(zero_stage=1, precision="fp32", grad_accumulation=accumulation),
            optim=OptimConfig(optimizer="sgd", batch_size=GLOBAL_BATCH, lr_per_64=1.6, weight_decay=0.0),
            micro_batch_size=MICRO_BATCH,
            device=torch.device("cpu"),
        )
        losses = []  # per step, per micro batch in global-batch order
        for inputs, labels in global_batches():
            step_losses = []
            for micro in range(accumulation):
                start = (rank * accumulation + micro) * MICRO_BATCH  # this rank's share of the global batch
                part = slice(start, start + MICRO_BATCH)
                loss = torch.nn.functional.cross_entropy(engine([x[part] for x in inputs]), labels[part])
                engine.backward(loss)
                engine.step()
                step_losses.append(loss.detach())
            gathered = [torch.zeros(accumulation) for _ in range(world_size)]
            dist.all_gather(gathered, torch.stack(step_losses))
            losses.append(torch.cat(gathered).tolist())
        if rank == 0:
            weights = {name: value.detach().clone() for name, value in engine.module.state_dict().items()
                       if "running" not in name and "num_batches" not in name}
            torch.save({"losses": losses, "weights": weights}, output)
    finally:
        dist.destroy_process_group()


def run_layout(world_size: int, output: Path) -> dict:
    """This file as a script, one process per worker (nothing of pytest's process is shared)."""
    port = str(free_port())
    processes = [subprocess.Popen([sys.executable, __file__, str(rank), str(world_size), port, str(output)])
                 for rank in range(world_size)]
    for process in processes:
        assert process.wait(timeout=600) == 0
    return torch.load(output)


def test_one_worker_accumulating_equals_two_workers_at_the_same_global_batch(tmp_path):
    one, two = run_layout(1, tmp_path / "one.pt"), run_layout(2, tmp_path / "two.pt")
    losses_1, losses_2 = torch.tensor(one["losses"]), torch.tensor(two["losses"])
    assert losses_1.shape == losses_2.shape == (STEPS, GLOBAL_BATCH // MICRO_BATCH)
    # the first step: the same micro batches on the same weights
    torch.testing.assert_close(losses_1[0], losses_2[0], rtol=0, atol=1e-6)
    # the second step runs on the weights the first optimiser step produced: equal only if the gradients were
    # averaged alike over accumulation (1 worker) and over workers (2)
    torch.testing.assert_close(losses_1[1], losses_2[1], rtol=1e-5, atol=1e-5)
    assert (losses_1[1] - losses_1[0]).abs().max() > 1e-3  # the step did change the weights
    assert one["weights"].keys() == two["weights"].keys()
    for name in one["weights"]:
        torch.testing.assert_close(one["weights"][name], two["weights"][name], rtol=1e-5, atol=1e-6, msg=name)


if __name__ == "__main__":
    train_steps(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])

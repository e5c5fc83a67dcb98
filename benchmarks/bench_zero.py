"""Backward + optimiser-step time (where DeepSpeed communicates) at ZeRO stage 0 against stage 1, same model, batches and workers (one process per worker,
gloo on CPU or NCCL on GPUs), through the real DeepSpeed engine. The figure that decides the recipes' default:
ZeRO-1 shards the optimiser state (momentum: 4 bytes per parameter, 140 MB for R50's 35M parameters) at the cost of
a reduce-scatter and an all-gather per step instead of one all-reduce.

    .venv/bin/python benchmarks/bench_zero.py --workers 2 --steps 8
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

MODEL = dict(depth=18, width=32, slow_frames=4, alpha=4, fusion_kernel_size=5, crop_size=64, dropout=0.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker(rank: int, world_size: int, port: int, stage: int, steps: int, output: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world_size)
    from sfp_train.engine import build_engine
    from sfp_train.models import ModelConfig, build_model, pathway_inputs
    from sfp_train.recipe import EngineConfig, OptimConfig

    torch.manual_seed(0)
    model = build_model(ModelConfig(**MODEL), num_classes=400).to(device)
    engine = build_engine(model, engine=EngineConfig(zero_stage=stage, precision="fp32"),
                          optim=OptimConfig(batch_size=2 * world_size), micro_batch_size=2, device=device)
    inputs = pathway_inputs(torch.randn(2, 3, 16, 64, 64, device=device), "slowfast", 4)
    labels = torch.zeros(2, dtype=torch.long, device=device)
    step_times = []
    for step in range(steps + 1):
        loss = F.cross_entropy(engine(inputs), labels)
        dist.barrier()
        started = time.perf_counter()
        engine.backward(loss)  # stage 0 all-reduces the gradients here, stage 1 reduce-scatters them
        engine.step()  # stage 1 all-gathers the updated parameters
        if cuda:
            torch.cuda.synchronize(device)
        if step:
            step_times.append(time.perf_counter() - started)
    if rank == 0:
        Path(output).write_text(str(statistics.median(step_times)))
    dist.destroy_process_group()


def step_seconds(stage: int, workers: int, steps: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        output, port = str(Path(folder) / "median"), str(free_port())
        processes = [subprocess.Popen([sys.executable, __file__, "--worker", str(rank), str(workers), port, str(stage),
                                       str(steps), output], stderr=subprocess.DEVNULL) for rank in range(workers)]
        if any(process.wait() for process in processes):
            raise RuntimeError(f"a ZeRO-{stage} worker failed")
        return float(Path(output).read_text())


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        rank, world_size, port, stage, steps, output = sys.argv[2:]
        worker(int(rank), int(world_size), int(port), int(stage), int(steps), output)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="stage 0 and 1 alternate, this many times each")
    args = parser.parse_args()
    times: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(args.rounds):
        for stage in times:
            times[stage].append(step_seconds(stage, args.workers, args.steps))
    from sfp_train.models import ModelConfig, build_model

    params = sum(p.numel() for p in build_model(ModelConfig(**MODEL), num_classes=400).parameters())
    print(f"backward + optimiser step, {args.workers} workers, SlowFast R18 width 32 ({params / 1e6:.1f}M parameters), "
          f"median of {args.steps} steps x {args.rounds} rounds")
    medians = {stage: statistics.median(values) for stage, values in times.items()}
    for stage, seconds in medians.items():
        print(f"  ZeRO stage {stage}: {1000 * seconds:.1f} ms")
    print(f"ratio stage 1 / stage 0: {medians[1] / medians[0]:.2f}")


if __name__ == "__main__":
    main()

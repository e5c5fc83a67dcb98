"""Training throughput of our SlowFast R50 8x8 against PyTorchVideo's `create_slowfast`, same architecture.

Both models get the same random clips, the same thread count and the same loss; timing alternates between them,
one forward + backward per step, so that load from other processes hits both alike. Prints clips per second of wall
time and per CPU-second (median step), the latter barely sensitive to other processes, and the ratios ours/theirs.

    .venv/bin/python benchmarks/bench_model.py --size 64 --batch 2 --steps 4 --threads 1

One thread by default: on a small shared machine, more threads than free cores make every step many times slower.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from sfp_train.models.packing import pack_pathways
from sfp_train.models.presets import slowfast_r50_8x8


def step_seconds(model: torch.nn.Module, inputs: list[torch.Tensor], labels: torch.Tensor) -> tuple[float, float]:
    """(wall, CPU) seconds of one training step; CPU time hardly depends on what else the machine runs."""
    wall, cpu = time.perf_counter(), time.process_time()
    loss = F.cross_entropy(model([x.clone() for x in inputs]), labels)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="spatial crop (default 64)")
    parser.add_argument("--frames", type=int, default=32, help="clip frames; the Slow pathway gets a quarter")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per model, after one warm-up step")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same for both models")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pytorchvideo.models.slowfast import create_slowfast

    res5 = args.size // 32
    torch.manual_seed(0)
    ours = slowfast_r50_8x8(crop_size=args.size).train()
    theirs = create_slowfast(
        model_depth=50,
        slowfast_fusion_conv_kernel_size=(7, 1, 1),
        head_pool_kernel_sizes=((args.frames // 4, res5, res5), (args.frames, res5, res5)),
    ).train()
    inputs = pack_pathways(torch.randn(args.batch, 3, args.frames, args.size, args.size), alpha=4)
    labels = torch.randint(0, 400, (args.batch,))

    models = {"ours": ours, "pytorchvideo": theirs}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for name, model in models.items():
        step_seconds(model, inputs, labels)  # warm-up
    for step in range(args.steps):
        for name in list(models)[:: 1 if step % 2 == 0 else -1]:  # alternate who goes first
            times[name].append(step_seconds(models[name], inputs, labels))

    clip = f"{args.batch} x 3 x {args.frames} x {args.size}^2"
    print(f"SlowFast R50 8x8, forward + backward, batch {clip}, {args.threads} thread(s)")
    wall = {name: args.batch / statistics.median(w for w, _ in steps) for name, steps in times.items()}
    cpu = {name: args.batch / statistics.median(c for _, c in steps) for name, steps in times.items()}
    for name in models:
        print(f"{name:>13}: {wall[name]:7.3f} clips/s wall, {cpu[name]:7.3f} clips per CPU-second")
    ratio_wall, ratio_cpu = wall["ours"] / wall["pytorchvideo"], cpu["ours"] / cpu["pytorchvideo"]
    print(f"ratio ours/theirs: {ratio_wall:.3f} (wall), {ratio_cpu:.3f} (CPU time), median of {args.steps} steps")

if __name__ == "__main__":
    main()

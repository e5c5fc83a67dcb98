"""The two bf16 policies against fp32: the same model, seed and batches through the real DeepSpeed engine.

- `fp32`: the reference;
- `autocast` (the platform's policy, `engine.precision: bf16`): fp32 weights, forward under `torch.autocast(bf16)`;
- `deepspeed-bf16`: DeepSpeed's bf16 mode (fp32 master weights in the optimiser, bf16 module). DeepSpeed casts the
  parameters only; BatchNorm's running statistics stay fp32 and PyTorch's CPU batch norm then refuses the mix
  ("expected scalar type BFloat16 but found Float"), so the whole module, statistics included, is cast to bf16
  first, and the inputs are cast to bf16 as that mode requires.

Each runs `--steps` optimiser steps cycling over the same two fixed batches (SGD, fixed learning rate, dropout off:
a loss that falls steadily, so the policies' trajectories can be compared) and prints the first and last loss, each
policy's largest deviation from fp32's loss over the steps (as a share of fp32's first loss), the eval-mode loss on
the first batch afterwards (BatchNorm with its running statistics) and the dtype those statistics end in. Runs on CPU (one gloo process) or on a GPU (`--device cuda`).

    .venv/bin/python benchmarks/bench_precision.py --preset tiny --steps 20
    .venv/bin/python benchmarks/bench_precision.py --preset r50 --batch 8 --device cuda   # the device check
"""

from __future__ import annotations

import argparse
import math
import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F

from sfp_train import engine as engines
from sfp_train.models import ModelConfig, build_model, pathway_inputs
from sfp_train.recipe import EngineConfig, OptimConfig

PRESETS = {
    # the demo's network at a 32-pixel crop: a fraction of a second per step on CPU. Not 2 Slow frames: PyTorch
    # 2.14.1's oneDNN bf16 conv3d gives a non-finite weight gradient on CPU when the input has one frame fewer than
    # the temporal kernel (2 frames into the 3-frame conv_a of res4; pure PyTorch kernels do not; README: Precision)
    "tiny": dict(depth=18, width=8, slow_frames=4, alpha=4, fusion_kernel_size=5, crop_size=32),
    # SlowFast R50 8x8 at 224, the Kinetics recipe
    "r50": dict(depth=50, width=64, slow_frames=8, alpha=4, fusion_kernel_size=7, crop_size=224),
}
POLICIES = ("fp32", "autocast", "deepspeed-bf16")
NUM_CLASSES = 10


@dataclass
class PolicyRun:
    policy: str
    losses: list[float]  # training loss at each step
    eval_loss: float  # eval mode (running BatchNorm statistics) on the first batch, after the steps
    bn_stats_dtype: torch.dtype


def ensure_process_group() -> None:
    """DeepSpeed needs a process group: one gloo process on this machine when none is set up."""
    if dist.is_initialized():
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    dist.init_process_group("gloo", rank=0, world_size=1)


def fixed_batches(config: ModelConfig, batch: int, count: int, device: torch.device) -> list[tuple[list, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(count):
        clips = torch.randn(batch, 3, config.clip_frames, config.crop_size, config.crop_size, generator=generator)
        labels = torch.randint(0, NUM_CLASSES, (batch,), generator=generator)
        inputs = [x.to(device) for x in pathway_inputs(clips, config.arch, config.alpha)]
        batches.append((inputs, labels.to(device)))
    return batches


def run_policy(policy: str, config: ModelConfig, batches: list, device: torch.device, lr: float) -> PolicyRun:
    """`len(batches)` optimiser steps from the same initial weights; the loss of each step, in fp32."""
    ensure_process_group()
    torch.manual_seed(0)
    model = build_model(config, num_classes=NUM_CLASSES).to(device)
    if policy == "deepspeed-bf16":
        model = model.to(torch.bfloat16)
    batch = len(batches[0][1])
    model_engine = engines.build_engine(
        model,
        engine=EngineConfig(zero_stage=0, precision="fp32" if policy == "fp32" else "bf16"),
        optim=OptimConfig(optimizer="sgd", batch_size=batch, lr_per_64=lr * 64 / batch, weight_decay=0.0),
        micro_batch_size=batch,
        device=device,
        deepspeed_bf16=policy == "deepspeed-bf16",
    )
    model_engine.train()
    losses = []
    for inputs, labels in batches:
        if policy == "deepspeed-bf16":
            inputs = [x.to(torch.bfloat16) for x in inputs]
        with engines.autocast("bf16" if policy == "autocast" else "fp32", device):
            logits = model_engine(inputs)
        loss = F.cross_entropy(logits.float(), labels)
        model_engine.backward(loss)
        model_engine.step()
        losses.append(float(loss.detach()))
    model_engine.eval()
    inputs, labels = batches[0]
    with torch.no_grad(), engines.autocast("bf16" if policy == "autocast" else "fp32", device):
        if policy == "deepspeed-bf16":
            inputs = [x.to(torch.bfloat16) for x in inputs]
        eval_loss = float(F.cross_entropy(model_engine(inputs).float(), labels))
    bn_dtype = next(b for name, b in model_engine.module.named_buffers() if name.endswith("running_var")).dtype
    return PolicyRun(policy, losses, eval_loss, bn_dtype)


def max_deviation(losses: list[float], reference: list[float]) -> float:
    """The largest `|loss - reference|` over the steps as a share of the reference's first loss (a share of each
    step's loss would be dominated by the last, near-zero losses); infinite if any loss is not finite."""
    deviations = [abs(a - b) / abs(reference[0]) for a, b in zip(losses, reference)]
    return max(deviations) if all(map(math.isfinite, deviations)) else math.inf


def compare_policies(preset: str, batch: int, steps: int, device: torch.device, lr: float = 0.05,
                     policies: tuple[str, ...] = POLICIES) -> dict[str, PolicyRun]:
    config = ModelConfig(**PRESETS[preset], dropout=0.0)
    distinct = fixed_batches(config, batch, 2, device)
    batches = [distinct[step % len(distinct)] for step in range(steps)]
    return {policy: run_policy(policy, config, batches, device, lr) for policy in policies}


def report(runs: dict[str, PolicyRun]) -> str:
    reference = runs["fp32"].losses
    lines = [f"{'policy':>15} {'first loss':>11} {'last loss':>10} {'max |dev| / fp32 first':>23} "
             f"{'eval loss':>10} {'BN stats':>9}"]
    for run in runs.values():
        deviation = max_deviation(run.losses, reference)
        lines.append(f"{run.policy:>15} {run.losses[0]:11.5f} {run.losses[-1]:10.5f} {deviation:23.2e} "
                     f"{run.eval_loss:10.5f} {str(run.bn_stats_dtype).removeprefix('torch.'):>9}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = compare_policies(args.preset, args.batch, args.steps, torch.device(args.device))
    print(f"{args.preset}, batch {args.batch}, {args.steps} SGD steps on fixed batches, {args.device}")
    print(report(runs))


if __name__ == "__main__":
    main()

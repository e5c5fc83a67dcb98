"""The device check: one table of what a GPU does with our training step, in about five minutes on one GPU.

Rows:
1. bf16 (autocast, the policy) and DeepSpeed's bf16 against fp32: loss after a few SGD steps on the same batches
   through the real DeepSpeed engine (`bench_precision.py`);
2. model-only forward + backward + SGD step, clips/s of SlowFast R50 8x8 at 224 (bf16 autocast, channels_last_3d),
   at batches 8, 16, 32, with torch.compile off and on, and the MFU it implies (300 GFLOP per training clip:
   forward ~100 + backward ~200; an H200's dense bf16 peak is 989 TFLOPS);
3. `decode_jpeg` throughput of 340x256 frames on the device (nvJPEG), and the clips/s at 32 frames per clip; then
   the training pipeline's whole worker-side decode (`ClipDecoder`: decode, RoIAlign crop-and-resize to 224, flip,
   normalise, pack into [slow, fast]) on batches of 426x320 clips, as the store at short side 320 holds them;
4. the real loop end to end from a local frame store (`bench_train.py`, Ray Train + DeepSpeed, one worker).

A row whose packages are missing (the lent device image has no Ray, DeepSpeed or MLflow) says so instead of a number.
`--reduced` runs every row at toy sizes, on CPU too: what the test suite runs.

    python benchmarks/gpu_check.py                       # on a GPU machine (scripts/gpu_check.sh)
    .venv/bin/python benchmarks/gpu_check.py --reduced   # anywhere, in a minute
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

GFLOP_PER_TRAINING_CLIP = 300.0  # R50 8x8 at 224: ~100 GFLOP forward (65.7 GMACs x 2, less the head), x3 with backward
H200_BF16_PEAK_TFLOPS = 989.0


def missing(*modules: str) -> str | None:
    absent = [name for name in modules if importlib.util.find_spec(name) is None]
    return f"skipped: {', '.join(absent)} not installed" if absent else None


def model_only_clips_per_s(batch: int, *, crop: int, depth: int, width: int, slow_frames: int, compile: bool,
                           device: torch.device, steps: int) -> float:
    """Forward + backward + SGD step of SlowFast in bf16 autocast with channels_last_3d, clips/s (median step)."""
    from sfp_train import engine as engines
    from sfp_train.models import ModelConfig, build_model, pathway_inputs

    config = ModelConfig(depth=depth, width=width, slow_frames=slow_frames, alpha=4,
                         fusion_kernel_size=7 if depth == 50 else 5, crop_size=crop,
                         channels_last=True, compile=compile)
    torch.manual_seed(0)
    model = build_model(config, num_classes=400).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    clips = torch.randn(batch, 3, config.clip_frames, crop, crop, device=device)
    inputs = pathway_inputs(clips, config.arch, config.alpha)
    labels = torch.randint(0, 400, (batch,), device=device)
    times = []
    for step in range(steps + 2):  # two warm-up steps (cuDNN autotuning, compilation)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        with engines.autocast("bf16", device):
            logits = model(inputs)
        F.cross_entropy(logits.float(), labels).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= 2:
            times.append(time.perf_counter() - started)
    return batch / statistics.median(times)


def precision_row(reduced: bool, device: torch.device) -> list[str]:
    reason = missing("deepspeed")
    if reason:
        return [f"bf16 vs fp32 loss: {reason}"]
    import bench_precision

    preset, batch, steps = ("tiny", 2, 3) if reduced else ("r50", 8, 5)
    runs = bench_precision.compare_policies(preset, batch, steps, device)
    return [f"bf16 vs fp32 loss ({preset}, batch {batch}, {steps} SGD steps on fixed batches):",
            *("  " + line for line in bench_precision.report(runs).splitlines())]


def model_rows(reduced: bool, device: torch.device) -> list[str]:
    reason = missing("pydantic")
    if reason:
        return [f"model-only clips/s: {reason}"]
    if reduced:
        shape = dict(crop=32, depth=18, width=8, slow_frames=4)
        batches, compiles, steps = (2,), (False,), 2
    else:
        shape = dict(crop=224, depth=50, width=64, slow_frames=8)
        batches, compiles, steps = (8, 16, 32), (False, True), 5
    name = "R50 8x8 at 224" if not reduced else "R18 width 8 at 32 (reduced)"
    lines = [f"model-only forward+backward+SGD, {name}, bf16 autocast, channels_last_3d, {device}:",
             f"  {'batch':>5} {'compile':>8} {'clips/s':>9} {'MFU':>7}"]
    for compile in compiles:
        for batch in batches:
            rate = model_only_clips_per_s(batch, compile=compile, device=device, steps=steps, **shape)
            mfu = rate * GFLOP_PER_TRAINING_CLIP / (H200_BF16_PEAK_TFLOPS * 1000)
            lines.append(f"  {batch:>5} {str(compile):>8} {rate:9.1f} {'-' if reduced else f'{mfu:.1%}':>7}")
    return lines


def decode_row(reduced: bool, device: torch.device) -> list[str]:
    import bench_decode

    frames, batch = (32, 16) if reduced else (4096, 512)
    jpegs = bench_decode.render_jpegs(frames)
    rate = bench_decode.frames_per_second(jpegs, batch, device, rounds=1 if reduced else 3)
    return [f"decode_jpeg on {device}: {rate:,.0f} frames/s of 340x256 (batches of {batch}) = "
            f"{rate / 32:,.0f} clips/s at 32 frames"]


def clip_decoder_row(reduced: bool, device: torch.device) -> list[str]:
    import numpy as np

    import bench_decode

    reason = missing("pydantic")  # sfp_train.models imports its config classes
    if reason:
        return [f"ClipDecoder on {device}: {reason}"]
    from sfp_train.data.device_decode import ClipDecoder

    clips, rounds = (2, 1) if reduced else (32, 3)
    frames = bench_decode.render_jpegs(32, width=426, height=320)
    rng = np.random.default_rng(0)
    sides = rng.integers(224, 320, clips)
    batch = {"jpegs": [frames] * clips, "flip": rng.random(clips) < 0.5,
             "region": np.array([[rng.integers(0, 320 - side + 1), rng.integers(0, 426 - side + 1), side, side]
                                 for side in sides], np.float32)}
    decoder = ClipDecoder(size=224, mean=(0.45,) * 3, std=(0.225,) * 3, arch="slowfast", alpha=4, uint8_resize=True)
    decoder(batch, device)  # warm-up
    timings = []
    for _ in range(rounds):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        decoder(batch, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - started)
    rate = clips / statistics.median(timings)
    return [f"ClipDecoder on {device}: {rate:,.1f} training clips/s (32 frames of 426x320 -> [slow, fast] at 224, "
            f"batches of {clips}) = {rate * 32:,.0f} frames/s"]


def train_row(reduced: bool) -> list[str]:
    reason = missing("ray", "deepspeed", "mlflow", "ffmpeg")
    if reason:
        return [f"end-to-end bench-train: {reason}"]
    arguments = (["--preset", "small", "--batch", "2", "--steps", "2", "--clips-per-class", "2"] if reduced else
                 ["--preset", "r50", "--batch", "16", "--steps", "20", "--precision", "bf16", "--channels-last"])
    done = subprocess.run([sys.executable, str(HERE / "bench_train.py"), *arguments], capture_output=True, text=True)
    if done.returncode:
        return [f"end-to-end bench-train: FAILED: {(done.stderr or done.stdout).strip().splitlines()[-1:]}"]
    report = done.stdout[done.stdout.index("bench-train:"):].strip().splitlines()
    return ["end-to-end " + report[0], *("  " + line for line in report[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="toy sizes: runs on CPU in a minute")
    parser.add_argument("--skip-train", action="store_true", help="leave out the end-to-end bench-train row")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"gpu check on {name}, torch {torch.__version__}{' (reduced)' if args.reduced else ''}", flush=True)
    sections = [lambda: precision_row(args.reduced, device), lambda: model_rows(args.reduced, device),
                lambda: decode_row(args.reduced, device), lambda: clip_decoder_row(args.reduced, device)]
    if not args.skip_train:
        sections.append(lambda: train_row(args.reduced))
    for section in sections:
        started = time.perf_counter()
        lines = section()
        print("\n".join(lines) + f"   [{time.perf_counter() - started:.0f} s]", flush=True)


if __name__ == "__main__":
    main()

"""Training clips/s of the real loop (Ray Train + DeepSpeed, one worker) fed from a frame store, next to the same
loop fed one batch that is already on the device (the model-only ceiling), on the same recipe in the same process.

The frame store holds copies of the real Kinetics fixture clip (340x256, 10 s, 30 fps), preprocessed by the
platform's own Ray Data job. Both runs train `--epochs` epochs of `--steps` optimiser steps; the figures are the
last epoch's (the first one pays for Ray Data's start-up and the allocator's warm-up): clips/s, the share of step
time spent waiting for data, and their ratio. Then the step's stages, timed in this process on the same model and
engine with the device synchronised around each stage: forward, backward, optimiser step.

    .venv/bin/python benchmarks/bench_train.py                                  # CPU: the demo's small SlowFast
    python benchmarks/bench_train.py --preset r50 --batch 16 --precision bf16 --channels-last   # a GPU
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

SOURCE_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "videos" / "kinetics_clip_340x256_10s.mp4"
CLASSES = ("abseiling", "archery")

PRESETS = {
    # the demo's network (ResNet-18 blocks, width 8, 4x4) at a 64-pixel crop: CPU-sized
    "small": {"model": {"depth": 18, "width": 8, "slow_frames": 4, "alpha": 4, "fusion_kernel_size": 5,
                        "crop_size": 64},
              "data": {"train_short_side": [64, 80], "crop_size": 64, "test_short_side": 64, "test_crop_size": 64},
              "short_side": 80},
    # SlowFast R50 8x8 at 224, the Kinetics recipe
    "r50": {"model": {"depth": 50, "width": 64, "slow_frames": 8, "alpha": 4, "fusion_kernel_size": 7,
                      "crop_size": 224},
            "data": {"train_short_side": [256, 320], "crop_size": 224, "test_short_side": 256,
                     "test_crop_size": 224},
            "short_side": 256},
}


@dataclass
class FeedResult:
    feed: str
    clips_per_s: float
    data_wait_share: float


def make_dataset(root: Path, clips_per_class: int) -> Path:
    """Copies (hard links) of the fixture clip as a Kinetics CSV dataset with train and val rows."""
    videos = root / "videos"
    rows = []
    for label in CLASSES:
        (videos / label).mkdir(parents=True, exist_ok=True)
        for number in range(clips_per_class + 1):  # the last one of each class is a val clip
            clip_id = f"{label[:4]}{number:07d}_000010_000020"
            path = videos / label / f"{clip_id}.mp4"
            if not path.exists():
                try:
                    os.link(SOURCE_VIDEO, path)
                except OSError:
                    shutil.copyfile(SOURCE_VIDEO, path)
            rows.append({"label": label, "youtube_id": clip_id[:11], "time_start": 10, "time_end": 20,
                         "split": "val" if number == clips_per_class else "train"})
    manifest = root / "annotations.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def build_framestore(root: Path, clips_per_class: int, short_side: int) -> str:
    from sfp.config import validate
    from sfp_preprocess.config import PreprocessConfig
    from sfp_preprocess.job import run_preprocess

    manifest = make_dataset(root, clips_per_class)
    output = root / f"framestore-{short_side}"
    config = validate(PreprocessConfig, {
        "dataset": {"format": "kinetics", "manifest": str(manifest), "video_root": str(root / "videos")},
        "decode": {"short_side": short_side},
        "output": {"uri": str(output), "clips_per_shard": 4},
        "tracking": {"enabled": False},
    }, source="bench_train")
    run_preprocess(config)
    return str(output)


def recipe_for(args: argparse.Namespace, framestore: str, workdir: Path, name: str):
    from sfp.config import validate
    from sfp_train.recipe import TrainRecipe

    preset = PRESETS[args.preset]
    return validate(TrainRecipe, {
        "name": name,
        "data": {"framestore": framestore, **preset["data"], "loader_batch_size": min(args.batch, 8),
                 "test_temporal_views": 1, "test_spatial_crops": 1},
        "model": {**preset["model"], "channels_last": args.channels_last, "compile": args.compile},
        "optim": {"epochs": args.epochs, "batch_size": args.batch, "warmup_epochs": 0},
        "engine": {"zero_stage": 0, "precision": args.precision},
        "scaling": {"num_workers": 1, "cpus_per_worker": 1, "max_failures": 0},
        "checkpoint": {"storage_uri": str(workdir / "runs"), "keep": 1},
        "tracking": {"local_dir": str(workdir / "mlflow"), "experiment": "bench-train"},
        "max_steps_per_epoch": args.steps,
        "val_every_n_epochs": args.epochs,
        "log_every_n_steps": args.steps,
    }, source="bench_train")


def run_feed(recipe, feed: str) -> FeedResult:
    """One training run of `recipe` through `trainer.fit`, its last epoch's figures."""
    from sfp import tracking
    from sfp.framestore import FrameStore
    from sfp_train.data.pipeline import training_inputs
    from sfp_train.trainer import fit, steps_per_epoch

    store = FrameStore.open(recipe.data.framestore)
    model = recipe.model
    inputs = training_inputs(store, recipe.data, num_frames=model.clip_frames, arch=model.arch, alpha=model.alpha,
                             seed=recipe.seed)
    run_id = tracking.start_or_resume_run(recipe.tracking, recipe.name)
    steps = steps_per_epoch(recipe, store.manifest.splits[recipe.data.train_split])
    result = fit(recipe, inputs=inputs, classes=store.manifest.classes, steps=steps, run_id=run_id, feed=feed)
    tracking.end_run(run_id)
    return FeedResult(feed, result.metrics["train/clips_per_s"], result.metrics["train/data_wait_share"])


def stage_times(recipe, device: torch.device, repeats: int = 5) -> dict[str, float]:
    """Median seconds of forward, backward and the optimiser step on one micro batch, device synchronised around
    each stage, in this process (one gloo rank)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_precision import ensure_process_group

    from sfp_train import engine as engines
    from sfp_train.models import build_model, pathway_inputs

    ensure_process_group()
    config = recipe.model
    model = build_model(config, num_classes=len(CLASSES)).to(device)
    model_engine = engines.build_engine(model, engine=recipe.engine, optim=recipe.optim,
                                        micro_batch_size=recipe.micro_batch_size, device=device)
    precision = engines.resolve_precision(recipe.engine, device)
    clips = torch.randn(recipe.micro_batch_size, 3, config.clip_frames, config.crop_size, config.crop_size,
                        device=device)
    inputs = pathway_inputs(clips, config.arch, config.alpha)
    labels = torch.zeros(recipe.micro_batch_size, dtype=torch.long, device=device)

    def timed(stage):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        value = stage()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return value, time.perf_counter() - started

    times: dict[str, list[float]] = {"forward": [], "backward": [], "optimizer step": []}
    for repeat in range(repeats + 1):  # the first is a warm-up
        def forward():
            with engines.autocast(precision, device):
                return F.cross_entropy(model_engine(inputs).float(), labels)

        loss, forward_s = timed(forward)
        _, backward_s = timed(lambda: model_engine.backward(loss))
        _, step_s = timed(model_engine.step)
        if repeat:
            for stage, seconds in zip(times, (forward_s, backward_s, step_s)):
                times[stage].append(seconds)
    return {stage: statistics.median(values) for stage, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--batch", type=int, default=4, help="clips per optimiser step (one worker)")
    parser.add_argument("--steps", type=int, default=6, help="optimiser steps per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="the last epoch is measured")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--clips-per-class", type=int, default=6)
    parser.add_argument("--workdir", help="keep the dataset and frame store here (default: a temporary folder)")
    args = parser.parse_args()

    from sfp.raycluster import init_ray

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="sfp-bench-train-"))
    workdir.mkdir(parents=True, exist_ok=True)
    init_ray()
    framestore = build_framestore(workdir, args.clips_per_class, PRESETS[args.preset]["short_side"])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = [run_feed(recipe_for(args, framestore, workdir, f"bench-{feed}-{stamp}"), feed)
               for feed in ("dataset", "synthetic")]
    recipe = recipe_for(args, framestore, workdir, "bench-stages")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    stages = stage_times(recipe, device)

    print()
    print(f"bench-train: {args.preset}, batch {args.batch}, precision {args.precision}, channels_last "
          f"{args.channels_last}, compile {args.compile}, 1 worker, epoch {args.epochs} of {args.epochs} x "
          f"{args.steps} steps")
    print(f"{'feed':>12} {'clips/s':>9} {'data-wait share':>16}")
    for result in results:
        label = "frame store" if result.feed == "dataset" else "on device"
        print(f"{label:>12} {result.clips_per_s:9.2f} {result.data_wait_share:16.3f}")
    real, ceiling = results
    print(f"ratio frame store / model-only ceiling: {real.clips_per_s / ceiling.clips_per_s:.3f}")
    step_ms = {stage: 1000 * seconds for stage, seconds in stages.items()}
    wait_ms = 1000 * real.data_wait_share * args.batch / real.clips_per_s
    print("step by stage (ms, one micro batch of {}): ".format(recipe.micro_batch_size)
          + ", ".join(f"{stage} {ms:.1f}" for stage, ms in step_ms.items())
          + f"; data wait per step in the frame-store run {wait_ms:.1f}")


if __name__ == "__main__":
    main()

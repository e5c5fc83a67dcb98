"""Training input clips/s per core: our frame store -> `[slow, fast]` against decoding the mp4 with PyAV, and
against the floor of decoding the sampled JPEG frames alone.

Three contenders turn the same clips (copies of a real 10 s H.264 Kinetics clip, 340x256, 30 fps, keyframes at
frames 0 and 235) into the 8x8 recipe's input (32 frames at stride 2, Kinetics `DataConfig` defaults), in one process
on one core, no Ray. The store is written by the preprocessing job's shard tasks, run in this process, at short side
320 by default (the top of the jitter range, so training never upscales; for this 256-line source that upscaling
happens once in preprocessing instead) or `--short-side 256` (the source's own size):

- `frame store`: our `TrainClipLoader` (one Parquet row group read, the 32 sampled JPEGs decoded, short-side
  jitter, random crop, flip, normalisation, `pathway_inputs`);
- `PyAV`: opens the mp4, seeks to the window (a seek lands on the keyframe before it), decodes the 64-frame window,
  converts the 32 sampled frames to RGB, then the very same `train_transform` and `pathway_inputs`;
- `JPEG floor`: `decode_jpeg` of the 32 sampled frames of the store, their bytes already in memory (no Parquet
  read, no augmentation): what the frame store cannot go below.

Timing interleaves the contenders clip by clip (rotating who goes first) so that load from other processes hits
all alike, and reports medians over rounds, of wall time and of CPU time (all threads of the process, barely
sensitive to other processes).

    .venv/bin/python benchmarks/bench_loader.py --clips 8 --rounds 6 --short-side 320   # the defaults, 1-2 min
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
from typing import Callable, Sequence

import av
import numpy as np
import pyarrow as pa
import torch

from sfp.config import validate
from sfp.framestore import FrameStore, decode_jpeg, finalize_store
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.job import plan_shards, source_description
from sfp_preprocess.shard import ShardContext, process_shard
from sfp_preprocess.sources import plan_sources
from sfp_train.data.config import DataConfig
from sfp_train.data.pipeline import INDEX_COLUMNS, TrainClipLoader, index_rows
from sfp_train.data.sampling import train_frame_indices
from sfp_train.data.transforms import train_transform
from sfp_train.models.packing import pathway_inputs

SOURCE_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "videos" / "kinetics_clip_340x256_10s.mp4"
LABEL = "abseiling"
NUM_FRAMES, ARCH, ALPHA = 32, "slowfast", 4  # the 8x8 recipe: 32 frames at stride 2, Slow keeps every 4th

Batch = dict[str, np.ndarray]


# --- data ----------------------------------------------------------------------------------------------------


def make_kinetics_dataset(root: Path, video: Path, clips: int) -> tuple[Path, dict[str, Path]]:
    """`clips` copies of `video` (hard links when possible) as a Kinetics dataset: `train.csv` and
    `videos/<label>/{youtube_id}_{start:06d}_{end:06d}.mp4`. Returns the manifest and each clip id's video."""
    folder = root / "videos" / LABEL
    folder.mkdir(parents=True, exist_ok=True)
    rows, paths = [], {}
    for number in range(clips):
        youtube_id, start, end = f"bench{number:06d}", 10, 20  # 11 characters, as YouTube ids
        clip_id = f"{youtube_id}_{start:06d}_{end:06d}"
        path = folder / f"{clip_id}.mp4"
        if not path.exists():  # a kept --workdir already has it
            try:
                os.link(video, path)
            except OSError:  # another file system, or hard links to others' files not allowed
                shutil.copyfile(video, path)
        rows.append({"label": LABEL, "youtube_id": youtube_id, "time_start": start, "time_end": end, "split": "train"})
        paths[clip_id] = path
    manifest = root / "train.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["label", "youtube_id", "time_start", "time_end", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest, paths


def build_store(manifest: Path, output: Path, short_side: int) -> FrameStore:
    """The preprocessing job's shard tasks run in this process (no Ray), then the store is committed."""
    config = validate(PreprocessConfig, {
        "dataset": {"format": "kinetics", "manifest": str(manifest), "video_root": str(manifest.parent / "videos")},
        "decode": {"short_side": short_side},
        "output": {"uri": str(output)},
        "tracking": {"enabled": False},
    }, source="bench_loader")
    plan = plan_sources(config.dataset)
    context = ShardContext(
        store_uri=config.output.uri,
        video_root=config.dataset.root,
        video_extensions=list(config.dataset.video_extensions),
        class_ids={name: index for index, name in enumerate(plan.classes)},
        decode=config.decode,
        clips_per_row_group=config.output.clips_per_row_group,
    )
    shards = plan_shards(plan.clips, config.output.clips_per_shard, config.decode.fps)
    results = [process_shard(context, clips) for clips in shards]
    errors = [error for result in results for error in result.errors]
    if errors:
        raise RuntimeError(f"preprocessing failed: {errors[0]}")
    finalize_store(
        config.output.uri,
        shards=[result.shard for result in results if result.shard is not None],
        records=[record for result in results for record in result.records],
        errors=[],
        classes=plan.classes,
        source_rows=len(plan.clips),
        source=source_description(config, plan),
        decode=config.decode.model_dump(),
        code_version="bench",
    )
    return FrameStore.open(config.output.uri)


def kinetics_data_config(store_uri: str) -> DataConfig:
    return validate(DataConfig, {"framestore": store_uri}, source="bench_loader")  # the Kinetics defaults


def clip_batches(store: FrameStore, split: str) -> list[Batch]:
    """One single-clip batch of index rows per clip, columns as Ray Data hands them to `TrainClipLoader`."""
    return [{name: np.asarray([row[name]]) for name in INDEX_COLUMNS} for row in index_rows(store, split)]


# --- the two baselines ---------------------------------------------------------------------------------------


def decode_window_pyav(path: Path, indices: Sequence[int], fps: float) -> np.ndarray:
    """Frames `indices` (on the clip's constant `fps` grid) of a video, `[T, H, W, 3]` uint8 RGB: seek to the keyframe
    before the window, decode up to its last frame, convert only the sampled frames. One decoding thread."""
    wanted = sorted(set(int(index) for index in indices))
    found: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        start = wanted[0] / fps
        container.seek(int(start / stream.time_base) + (stream.start_time or 0), stream=stream, backward=True)
        position = 0  # next entry of `wanted` to fill
        for frame in container.decode(stream):
            index = round((frame.pts - (stream.start_time or 0)) * stream.time_base * fps)
            if index < wanted[position]:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            while position < len(wanted) and wanted[position] <= index:  # a missing frame repeats the one before
                found[wanted[position]] = rgb
                position += 1
            if position == len(wanted):
                break
    if len(found) < len(wanted):  # the video ended early: repeat its last frame, as sampling clamps indices
        last = found[max(found)]
        found.update({index: last for index in wanted if index not in found})
    return np.stack([found[int(index)] for index in indices])


class PyAVClipLoader:
    """`TrainClipLoader` with the frame store replaced by decoding the clip's mp4 on the fly: the same sampling,
    augmentation and packing, only the decode path differs."""

    def __init__(self, videos: dict[str, Path], fps: float, data: DataConfig, *, num_frames: int, arch: str,
                 alpha: int) -> None:
        self.videos, self.fps, self.data = videos, fps, data
        self.num_frames, self.arch, self.alpha = num_frames, arch, alpha

    def __call__(self, batch: Batch) -> Batch:
        rng = np.random.default_rng()
        data = self.data
        clips = []
        for position in range(len(batch["clip_id"])):
            indices = train_frame_indices(int(batch["num_frames"][position]), self.num_frames, data.sampling_rate, rng)
            frames = decode_window_pyav(self.videos[str(batch["clip_id"][position])], indices, self.fps)
            clips.append(train_transform(frames, short_side_range=data.train_short_side, crop_size=data.crop_size,
                                         flip=data.flip, mean=data.mean, std=data.std, rng=rng))
        pathways = pathway_inputs(torch.stack(clips), self.arch, self.alpha)
        packed = {f"pathway_{i}": tensor.numpy() for i, tensor in enumerate(pathways)}
        packed["label"] = np.asarray(batch["label_id"], dtype=np.int64)
        return packed


class JpegFloor:
    """Decode only the sampled JPEG frames, their bytes already in memory: `{"frames": [B, T, H, W, 3]}`."""

    def __init__(self, store: FrameStore, data: DataConfig, *, num_frames: int) -> None:
        self.data, self.num_frames = data, num_frames
        self.jpegs = {record.clip_id: store.read_jpegs(record) for record in store.clips(data.train_split)}

    def __call__(self, batch: Batch) -> Batch:
        rng = np.random.default_rng()
        clips = []
        for position in range(len(batch["clip_id"])):
            jpegs = self.jpegs[str(batch["clip_id"][position])]
            indices = train_frame_indices(len(jpegs), self.num_frames, self.data.sampling_rate, rng)
            clips.append(np.stack([decode_jpeg(jpegs[index], self.data.train_short_side[0]) for index in indices]))
        return {"frames": np.stack(clips)}


# --- timing --------------------------------------------------------------------------------------------------


@dataclass
class Rate:
    wall: float  # clips per second of wall time
    cpu: float  # clips per CPU-second of this process (all its threads)


def measure(
    contenders: dict[str, Callable[[Batch], Batch]], batches: list[Batch], rounds: int
) -> dict[str, list[Rate]]:
    """Each round runs every contender on every batch, interleaved batch by batch (who goes first rotates);
    returns one rate per round and contender."""
    names = list(contenders)
    clips = sum(len(batch["clip_id"]) for batch in batches)
    rates: dict[str, list[Rate]] = {name: [] for name in names}
    step = 0
    for _ in range(rounds):
        wall = dict.fromkeys(names, 0.0)
        cpu = dict.fromkeys(names, 0.0)
        for batch in batches:
            shift = step % len(names)
            for name in names[shift:] + names[:shift]:
                wall_start, cpu_start = time.perf_counter(), time.process_time()
                contenders[name](batch)
                wall[name] += time.perf_counter() - wall_start
                cpu[name] += time.process_time() - cpu_start
            step += 1
        for name in names:
            rates[name].append(Rate(clips / wall[name], clips / cpu[name]))
    return rates


def report(rates: dict[str, list[Rate]], ours: str, pyav: str, floor: str) -> list[str]:
    """The table: median clips/s per contender (wall, CPU) with the spread over rounds, then the two ratios (the
    median of the per-round ratios: both sides of a ratio ran interleaved in the same round). Targets are judged on
    CPU time, which load from other processes hardly moves."""

    def values(name: str, kind: str) -> list[float]:
        return [getattr(rate, kind) for rate in rates[name]]

    def ratios(other: str, kind: str) -> list[float]:
        return [a / b for a, b in zip(values(ours, kind), values(other, kind))]

    lines = [f"{'':>12}  {'clips/s wall':>12}  {'clips/CPU-s':>11}  {'(CPU, min..max over rounds)':>27}"]
    for name in rates:
        cpu = values(name, "cpu")
        lines.append(f"{name:>12}  {statistics.median(values(name, 'wall')):12.2f}  {statistics.median(cpu):11.2f}  "
                     f"{min(cpu):13.2f} .. {max(cpu):.2f}")
    for other, target in ((pyav, 5.0), (floor, 0.5)):
        cpu, wall = ratios(other, "cpu"), statistics.median(ratios(other, "wall"))
        verdict = "met" if statistics.median(cpu) >= target else "NOT met"
        lines.append(f"ratio {ours} / {other}: {statistics.median(cpu):.2f} CPU time ({min(cpu):.2f}..{max(cpu):.2f} "
                     f"over rounds), {wall:.2f} wall; target >= {target:g}: {verdict}")
    return lines


@dataclass
class Bench:
    """The contenders, ready to run on `batches` (one clip each)."""

    video: Path  # the source every clip is a copy of
    store: FrameStore
    data: DataConfig
    contenders: dict[str, Callable[[Batch], Batch]]
    batches: list[Batch]


def prepare(workdir: Path, *, clips: int, short_side: int, video: Path = SOURCE_VIDEO) -> Bench:
    """Write the dataset and its frame store under `workdir` (kept ones are reused) and set up the contenders."""
    manifest, videos = make_kinetics_dataset(workdir / "kinetics", video, clips)
    store = build_store(manifest, workdir / f"framestore-{short_side}", short_side)
    data = kinetics_data_config(store.uri)
    fps = store.clips()[0].fps
    contenders = {
        "frame store": TrainClipLoader(store, data, num_frames=NUM_FRAMES, arch=ARCH, alpha=ALPHA),
        "PyAV": PyAVClipLoader(videos, fps, data, num_frames=NUM_FRAMES, arch=ARCH, alpha=ALPHA),
        "JPEG floor": JpegFloor(store, data, num_frames=NUM_FRAMES),
    }
    return Bench(video, store, data, contenders, clip_batches(store, data.train_split))


def run(bench: Bench, rounds: int) -> list[str]:
    """Warm up, measure, and return the report's lines."""
    for contender in bench.contenders.values():  # first calls open files and fill caches
        contender(bench.batches[0])
    rates = measure(bench.contenders, bench.batches, rounds)
    record, data = bench.store.clips()[0], bench.data
    header = (
        f"{len(bench.batches)} clips of {record.num_frames} frames ({bench.video.name}; store at short side "
        f"{min(record.width, record.height)}: {record.width}x{record.height} JPEGs); {NUM_FRAMES} frames at stride "
        f"{data.sampling_rate}, short side {list(data.train_short_side)}, crop {data.crop_size}; "
        f"1 core; medians of {rounds} round(s)"
    )
    return [header] + report(rates, "frame store", "PyAV", "JPEG floor")


def limit_threads() -> None:
    """One core: PyTorch and Arrow's pools get one thread each (PyAV is told so per video, PIL uses one)."""
    torch.set_num_threads(1)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8, help="distinct clips (copies of the fixture video)")
    parser.add_argument("--rounds", type=int, default=6, help="timed passes over every clip, after a warm-up clip")
    parser.add_argument("--short-side", type=int, default=320,
                        help="short side the store is decoded at (320: the jitter's top, default; 256: the source's)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the dataset and store here, reused by the next run (default: a temp dir)")
    args = parser.parse_args(argv)

    limit_threads()
    with tempfile.TemporaryDirectory(prefix="bench-loader-") as temp:
        workdir = args.workdir or Path(temp)
        print(f"building a frame store of {args.clips} clips in {workdir} ...", flush=True)
        started = time.perf_counter()
        bench = prepare(workdir, clips=args.clips, short_side=args.short_side)
        print(f"built in {time.perf_counter() - started:.0f} s; measuring {args.rounds} round(s) ...", flush=True)
        for line in run(bench, args.rounds):
            print(line)


if __name__ == "__main__":
    main()

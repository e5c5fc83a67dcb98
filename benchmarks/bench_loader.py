"""Training input cost per clip on the host: our frame store handing JPEG bytes to the worker's device, against
decoding on the host (the frame store's previous path), decoding the mp4 with PyAV, and the floor of decoding the
sampled JPEG frames alone; then the worker-side decode's throughput and what a clip costs from S3.

The contenders turn the same clips (copies of a real 10 s H.264 Kinetics clip, 340x256, 30 fps, keyframes at
frames 0 and 235) into the 8x8 recipe's input (32 frames at stride 2, Kinetics `DataConfig` defaults), in one process
on one core, no Ray. The store is written by the preprocessing job's shard tasks, run in this process, at short side
320 by default (the top of the jitter range, so training never upscales; for this 256-line source that upscaling
happens once in preprocessing instead) or `--short-side 256` (the source's own size):

- `frame store`: our `TrainClipLoader`, what a Ray Data task does per clip: one ranged read of the row groups the 32
  sampled frames live in, the view drawn (window, scale jitter, crop, flip); out go the JPEG bytes and the view;
- `host decode`: the same read, then the 32 JPEGs decoded on the host (PIL, DCT-scaled), short-side jitter, random
  crop, flip, normalisation and `pathway_inputs` there: the path before the decode moved to the worker's device;
- `PyAV`: opens the mp4, seeks to the window (a seek lands on the keyframe before it), decodes the 64-frame window,
  converts the 32 sampled frames to RGB, then the very same `train_transform` and `pathway_inputs`;
- `JPEG floor`: `decode_jpeg` of the 32 sampled frames of the store, their bytes already in memory (no Parquet
  read, no augmentation): what host decoding cannot go below.

Timing interleaves the contenders clip by clip (rotating who goes first) so that load from other processes hits
all alike, and reports medians over rounds, of wall time and of CPU time (all threads of the process, barely
sensitive to other processes). The worker-side decode (`ClipDecoder`: `torchvision.io.decode_jpeg` of a batch,
RoIAlign resampling, flip, normalisation, packing) is then timed on the `frame store` batches on this machine's CPU,
in frames per second (one thread): on a GPU it runs on nvJPEG and the device instead.

Then what one training clip costs from S3: the store is copied to S3 in the version-1 layout (one row per clip) and
the version-2 layout (row groups of 16 frames), and one window per clip is read from each through a counting proxy
in front of the endpoint (a SeaweedFS started for the benchmark, or `--s3-uri` on the endpoint the AWS variables
name): bytes and requests per clip against the bytes of the 64-frame window its 32 sampled frames span, on a shard's
first read (footer included: in an epoch over many shards nearly every clip is one) and on an open shard.

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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from sfp import storage
from sfp.config import validate
from sfp.framestore import EncodedClip, FrameStore, ShardWriter, decode_jpeg, finalize_store
from sfp_app.localstack import start_seaweedfs
from sfp_app.localstack.counting_proxy import CountingProxy
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.job import plan_shards, source_description
from sfp_preprocess.shard import ShardContext, process_shard
from sfp_preprocess.sources import plan_sources
from sfp_train.data.config import DataConfig
from sfp_train.data.pipeline import INDEX_COLUMNS, TrainClipLoader, index_rows, train_decoder
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


# --- the baselines ---------------------------------------------------------------------------------------


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


def augmented_batch(clips: list[torch.Tensor], labels: np.ndarray, arch: str, alpha: int) -> Batch:
    pathways = pathway_inputs(torch.stack(clips), arch, alpha)
    packed = {f"pathway_{i}": tensor.numpy() for i, tensor in enumerate(pathways)}
    packed["label"] = np.asarray(labels, dtype=np.int64)
    return packed


class HostDecodeLoader:
    """The frame store's host path: `TrainClipLoader`'s read and sampling, then decoding (PIL, DCT-scaled to the
    jitter's low end), `train_transform` and `pathway_inputs` on the host."""

    def __init__(self, store: FrameStore, data: DataConfig, *, num_frames: int, arch: str, alpha: int) -> None:
        self.store, self.data = store, data
        self.num_frames, self.arch, self.alpha = num_frames, arch, alpha

    def __call__(self, batch: Batch) -> Batch:
        rng = np.random.default_rng()
        data = self.data
        clips = []
        for position in range(len(batch["clip_id"])):
            record = self.store.record(str(batch["clip_id"][position]))
            indices = train_frame_indices(record.num_frames, self.num_frames, data.sampling_rate, rng)
            frames = self.store.read_frames(record, indices, max_short_side=data.train_short_side[0])
            clips.append(train_transform(frames, short_side_range=data.train_short_side, crop_size=data.crop_size,
                                         flip=data.flip, mean=data.mean, std=data.std, rng=rng))
        return augmented_batch(clips, batch["label_id"], self.arch, self.alpha)


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
        return augmented_batch(clips, batch["label_id"], self.arch, self.alpha)


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


RATIO_TARGETS = (  # (numerator, denominator, target): who is compared with whom, on CPU time per clip
    ("host decode", "PyAV", 5.0),  # the frame store against decoding the mp4 (the store's reason to exist)
    ("host decode", "JPEG floor", 0.5),  # read and augment cost at most as much again as the decode alone
    ("frame store", "host decode", 5.0),  # issue 12: the host's share at most 1/5 of decoding on the host
)


def report(rates: dict[str, list[Rate]]) -> list[str]:
    """The table: median clips/s per contender (wall, CPU) with the spread over rounds, host CPU-ms per clip, then
    the ratios (the median of the per-round ratios: both sides of a ratio ran interleaved in the same round).
    Targets are judged on CPU time, which load from other processes hardly moves."""

    def values(name: str, kind: str) -> list[float]:
        return [getattr(rate, kind) for rate in rates[name]]

    lines = [f"{'':>12}  {'clips/s wall':>12}  {'clips/CPU-s':>11}  {'(CPU, min..max over rounds)':>27}  "
             f"{'host CPU-ms/clip':>16}"]
    for name in rates:
        cpu = values(name, "cpu")
        lines.append(f"{name:>12}  {statistics.median(values(name, 'wall')):12.2f}  {statistics.median(cpu):11.2f}  "
                     f"{min(cpu):13.2f} .. {max(cpu):<11.2f}  {1000 / statistics.median(cpu):16.1f}")
    for ours, other, target in RATIO_TARGETS:
        cpu = [a / b for a, b in zip(values(ours, "cpu"), values(other, "cpu"))]
        wall = statistics.median([a / b for a, b in zip(values(ours, "wall"), values(other, "wall"))])
        verdict = "met" if statistics.median(cpu) >= target else "NOT met"
        lines.append(f"ratio {ours} / {other}: {statistics.median(cpu):.2f} CPU time ({min(cpu):.2f}..{max(cpu):.2f} "
                     f"over rounds), {wall:.2f} wall; target >= {target:g}: {verdict}")
    return lines


def measure_device_decode(bench: "Bench", rounds: int, clips_per_batch: int = 4) -> list[str]:
    """The worker-side decode of the `frame store` contender's output, batched as a worker receives it, on this
    machine's CPU (`torch.device("cpu")`, one thread)."""
    loader, decoder = bench.contenders["frame store"], train_decoder(bench.data, arch=ARCH, alpha=ALPHA)
    rows = [loader(batch) for batch in bench.batches]
    batches = [{key: np.concatenate([row[key] for row in rows[i:i + clips_per_batch]]) for key in rows[0]}
               for i in range(0, len(rows), clips_per_batch)]
    device = torch.device("cpu")
    decoder(batches[0], device)  # warm-up
    frames, wall, cpu = 0, 0.0, 0.0
    for _ in range(rounds):
        for batch in batches:
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            decoder(batch, device)
            wall += time.perf_counter() - wall_start
            cpu += time.process_time() - cpu_start
            frames += sum(len(clip) for clip in batch["jpegs"])
    per_clip_ms = 1000 * cpu / (frames / NUM_FRAMES)
    return [f"device decode (ClipDecoder on {device.type}, batches of {clips_per_batch} clips): {frames / wall:.0f} "
            f"frames/s wall, {frames / cpu:.0f} frames/CPU-s, {per_clip_ms:.1f} CPU-ms per clip; on a GPU this work "
            f"is nvJPEG's and the device's, not the host's"]


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
        "frame store": TrainClipLoader(store, data, num_frames=NUM_FRAMES),
        "host decode": HostDecodeLoader(store, data, num_frames=NUM_FRAMES, arch=ARCH, alpha=ALPHA),
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
    return [header] + report(rates) + measure_device_decode(bench, rounds)


# --- bytes and requests per clip from S3 ------------------------------------------------------------------------


def copy_store(store: FrameStore, uri: str, schema_version: int) -> FrameStore:
    """The same clips, shard for shard, written in layout `schema_version` to `uri`."""
    results = []
    for shard in store.manifest.shards:
        records = [record for record in store.clips() if record.shard == shard.path]
        with ShardWriter(uri, shard.path, schema_version=schema_version) as writer:
            for record in records:
                frames, timestamps = store.read_jpegs(record), store.read_timestamps(record)
                writer.add(EncodedClip(**record.clip_fields(), frames=frames, timestamps=timestamps))
            results.append(writer.close())
    records = [record for _, rows in results for record in rows]
    finalize_store(uri, shards=[info for info, _ in results], records=records, errors=[],
                   classes=store.manifest.classes, source_rows=len(records), source=store.manifest.source,
                   decode=store.manifest.decode, code_version="bench", schema_version=schema_version)
    return FrameStore.open(uri)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Environment variables set inside, restored after (S3 clients made inside see them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class ReadCost:
    layout: str
    shard: str  # "first read" (a fresh reader: the footer too) or "open" (a long-lived reader, the shard open)
    window_mb: list[float]
    mb: list[float]
    requests: list[int]
    seconds: list[float]  # wall time of the read, through the proxy
    footer_kb: float  # of the layout's (largest) shard: what a first read fetches besides the window

    @property
    def ratios(self) -> list[float]:
        return [moved / window for moved, window in zip(self.mb, self.window_mb)]


def footer_bytes(shard_uri: str) -> int:
    with storage.open_ranged(shard_uri) as handle:
        return pq.read_metadata(handle).serialized_size


def endpoint_variables(url: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL_S3": url, "AWS_ENDPOINT_URL": url}


def measure_s3_reads(store: FrameStore, s3_uri: str, data: DataConfig, seed: int = 0) -> list[ReadCost]:
    """Copy `store` to `s3_uri` in both layouts and read one training window per clip from each, through a counting
    proxy in front of the endpoint the environment names."""
    endpoint = storage.s3_endpoint_from_env()
    if not endpoint:
        raise SystemExit("--s3-uri needs AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL): the endpoint to count in front of")
    rng = np.random.default_rng(seed)
    records = store.clips(data.train_split)
    windows = [train_frame_indices(record.num_frames, NUM_FRAMES, data.sampling_rate, rng) for record in records]
    window_mb = []
    for record, indices in zip(records, windows):  # the 64 frames from the first sampled one
        span = range(int(indices[0]), min(int(indices[0]) + NUM_FRAMES * data.sampling_rate, record.num_frames))
        window_mb.append(sum(len(jpeg) for jpeg in store.read_jpegs(record, list(span))) / 1e6)
    costs = []
    for version in (1, 2):
        copy = copy_store(store, storage.join_uri(s3_uri, f"v{version}"), version)
        located = [copy.record(record.clip_id) for record in records]  # this layout's row groups
        footer_kb = max(footer_bytes(storage.join_uri(copy.uri, shard.path)) for shard in copy.manifest.shards) / 1e3
        with CountingProxy(endpoint, lifetime_s=600) as proxy, environment(endpoint_variables(proxy.url)):
            long_lived = FrameStore(copy.uri, copy.manifest)
            for record in located:
                long_lived.read_jpegs(record, [0])  # opens its shard
            for shard, reader_of in (("first read", lambda: FrameStore(copy.uri, copy.manifest)),
                                     ("open", lambda: long_lived)):
                cost = ReadCost(f"v{version}", shard, window_mb, [], [], [], footer_kb)
                for record, indices in zip(located, windows):
                    reader = reader_of()
                    before, started = proxy.counts(), time.perf_counter()
                    reader.read_jpegs(record, indices)
                    moved = proxy.counts() - before
                    cost.seconds.append(time.perf_counter() - started)
                    cost.mb.append(moved.response_bytes / 1e6)
                    cost.requests.append(moved.requests)
                costs.append(cost)
    return costs


def report_s3_reads(costs: list[ReadCost]) -> list[str]:
    window = statistics.median(costs[0].window_mb)
    lines = [f"bytes and requests per clip from S3, through a counting proxy (window: the 64 frames its 32 sampled "
             f"frames span, {window:.2f} MB median; medians over clips, max ratio in brackets):",
             f"{'layout':>8}  {'shard':>10}  {'MB/clip':>7}  {'x window':>13}  {'requests':>8}  {'ms/clip':>7}  "
             f"{'footer KB':>9}"]
    for cost in costs:
        lines.append(f"{cost.layout:>8}  {cost.shard:>10}  {statistics.median(cost.mb):7.2f}  "
                     f"{statistics.median(cost.ratios):6.2f} ({max(cost.ratios):4.2f})  "
                     f"{statistics.median(cost.requests):8.0f}  {1000 * statistics.median(cost.seconds):7.1f}  "
                     f"{cost.footer_kb:9.1f}")
    worst = max(max(cost.ratios) for cost in costs if cost.layout == "v2")
    verdict = "met" if worst <= 2 else "NOT met"
    lines.append(f"v2 layout: at most {worst:.2f}x the window per clip; target <= 2x: {verdict}")
    return lines


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
    parser.add_argument("--s3-uri", default=None,
                        help="S3 prefix for the store's two copies, on the endpoint the AWS variables name "
                             "(default: a SeaweedFS started for the benchmark)")
    args = parser.parse_args(argv)

    limit_threads()
    with tempfile.TemporaryDirectory(prefix="bench-loader-") as temp, ExitStack() as stack:
        workdir = args.workdir or Path(temp)
        print(f"building a frame store of {args.clips} clips in {workdir} ...", flush=True)
        started = time.perf_counter()
        bench = prepare(workdir, clips=args.clips, short_side=args.short_side)
        print(f"built in {time.perf_counter() - started:.0f} s; measuring {args.rounds} round(s) ...", flush=True)
        for line in run(bench, args.rounds):
            print(line)
        s3_uri = args.s3_uri
        if s3_uri is None:
            print("starting SeaweedFS ...", flush=True)
            server = start_seaweedfs(Path(temp) / "seaweedfs", buckets=["bench-loader"])
            stack.callback(server.stop, timeout=5)
            stack.enter_context(environment(server.env()))
            s3_uri = "s3://bench-loader/framestores"
        print("copying the store to S3 in both layouts and reading one window per clip ...", flush=True)
        for line in report_s3_reads(measure_s3_reads(bench.store, s3_uri, bench.data)):
            print(line)


if __name__ == "__main__":
    main()

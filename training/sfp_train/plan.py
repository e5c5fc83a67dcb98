"""`sfp train RECIPE --dry-run`: what a recipe will do on the cluster, worked out before any worker or Ray starts.

The workers and their batches (`sfp_train.recipe.ElasticBatch`, at the fewest and the most workers), the steps, the
learning-rate schedule's key points, the checkpoints' cadence and size (the model built on the meta device: nothing
is allocated), the data an epoch reads from S3 and the requests it makes, and an estimated time. Every figure that
is not computed from the recipe comes from `FIGURES`, one table that says where each was measured or what it is
estimated from; `docs/scale.md` works out Kinetics-400 and AVA at 16 and 128 GPUs from the same table.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sfp.errors import SfpError
from sfp_train.recipe import ElasticBatch, OptimConfig, RecipeBase, TrainRecipe
from sfp_train.schedule import learning_rate


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    source: str  # where it was measured (and on what), or what the estimate rests on
    measured: bool  # by this project's benchmarks (on CPU here: no GPU figure has been measured yet)


FIGURES: dict[str, Figure] = {
    "preprocess_cpu_s_per_clip": Figure(
        1.21, "CPU-seconds per 10 s clip", "make bench-preprocess: 28 copies of the 340x256 30 fps Kinetics "
        "fixture clip, short side 256, 2 cores (README: Benchmarks)", True),
    "store_bytes_per_frame": Figure(
        11_700, "bytes per stored frame", "make bench-preprocess: the store holds 2.6x the 1.35 MB fixture clip "
        "over its 300 frames, JPEG q 4 at short side 256", True),
    "s3_read_factor": Figure(
        1.55, "S3 bytes per clip / the window's frame bytes", "frame store v2, first read of a 64-clip shard: 80 "
        "frames for a 64-frame window plus the footer (README: The frame store; make bench-loader measured 1.33 "
        "on an 8-clip shard)", True),
    "s3_requests_per_clip": Figure(
        4, "requests per training clip", "frame store v2, first read of a 64-clip shard: HEAD, footer, window "
        "(README: The frame store; make bench-loader counted 3 on an 8-clip shard through its proxy)", True),
    "host_clips_per_cpu_s": Figure(
        406, "training clips per host CPU-second", "make bench-loader: a Ray Data task reads a clip's 32 sampled "
        "frames (JPEG bytes) from a store at short side 320 and draws the view, one core; the decode runs on the "
        "worker's device (README: Input pipeline)", True),
    "training_flops_per_forward": Figure(
        3, "training FLOPs / forward FLOPs", "backward costs about twice the forward (the usual count; the forward's "
        "MACs are counted on the recipe's model: SlowFast R50 8x8 at 224 50.3 GMACs, 65.7 at 256 as the paper)",
        False),
    "gpu_peak_tflops": Figure(
        989, "dense bf16 TFLOPS of an H200 (H100 the same)", "NVIDIA's H200 datasheet", False),
    "gpu_utilisation": Figure(
        0.20, "model FLOPs utilisation", "an assumption, not a measurement: 3D convolutions with thin Fast-pathway "
        "channels keep tensor cores far from peak; make gpu-check measures it on an H200", False),
    "s3_get_per_s_per_prefix": Figure(
        5_500, "GET/HEAD requests per second per prefix", "Amazon S3 performance guidelines", False),
}


def figure(name: str) -> float:
    return FIGURES[name].value


def training_flops(forward_macs: int) -> float:
    """FLOPs of one training clip (forward and backward) for a forward pass of `forward_macs`."""
    return 2 * forward_macs * figure("training_flops_per_forward")


def gpu_clips_per_s(forward_macs: int) -> float:
    """Model-bound training clips/s of one GPU: peak x utilisation / FLOPs per clip (an estimate: see FIGURES)."""
    return figure("gpu_peak_tflops") * 1e12 * figure("gpu_utilisation") / training_flops(forward_macs)


def host_clips_per_s(cpus: float) -> float:
    """Training clips/s whose frames `cpus` host CPUs read and whose views they draw (measured per CPU-second on CPU
    here); decoding is the worker device's, counted in neither bound (not measured on a GPU)."""
    return cpus * figure("host_clips_per_cpu_s")


@dataclass(frozen=True)
class WorkerCount:
    batch: ElasticBatch
    steps_per_epoch: int
    total_steps: int

    @property
    def clips_per_epoch(self) -> int:
        return self.steps_per_epoch * self.batch.global_batch


@dataclass(frozen=True)
class SchedulePoint:
    what: str
    epoch: float
    lr: float  # at the recipe's global batch; a worker count's lr_scale multiplies it


@dataclass(frozen=True)
class DataVolume:
    train_clips: int
    clips_source: str
    window_frames: int  # frames a training clip's window spans in the store
    bytes_per_frame: float
    bytes_source: str
    store_bytes: int | None  # the store's size, when it was read

    @property
    def s3_bytes_per_clip(self) -> float:
        return self.window_frames * self.bytes_per_frame * figure("s3_read_factor")

    @property
    def s3_requests_per_clip(self) -> float:
        return figure("s3_requests_per_clip")


@dataclass(frozen=True)
class ModelCost:
    parameters: int
    buffers: int  # floating-point buffers (BatchNorm statistics)
    forward_macs: int  # one training clip at the recipe's crop


@dataclass(frozen=True)
class CheckpointPlan:
    every_n_epochs: int
    count: int  # checkpoints a run writes
    keep: int
    parameters: int
    buffers: int
    optimizer_slots: int  # fp32 values of optimiser state per parameter (SGD momentum 1, AdamW 2)

    @property
    def bytes_each(self) -> int:
        """fp32 weights and buffers twice (DeepSpeed's model states and the plain `model.pt`) plus the optimiser."""
        return 4 * (2 * (self.parameters + self.buffers) + self.optimizer_slots * self.parameters)

    @property
    def bytes_written(self) -> int:
        return self.count * self.bytes_each


@dataclass(frozen=True)
class Throughput:
    clips_per_s: float  # per worker
    source: str


@dataclass(frozen=True)
class TrainPlan:
    name: str
    epochs: int
    recipe_batch: int
    workers: list[WorkerCount]  # the fewest and the most workers (one entry when fixed)
    schedule: list[SchedulePoint]
    model: ModelCost
    checkpoint: CheckpointPlan
    data: DataVolume
    throughput: Throughput

    def epoch_seconds(self, count: WorkerCount) -> float:
        return count.clips_per_epoch / (count.batch.world_size * self.throughput.clips_per_s)

    def s3_requests_per_s(self, count: WorkerCount) -> float:
        """All workers' GET/HEAD rate on the store's one prefix (`shards/`) at the throughput."""
        return count.batch.world_size * self.throughput.clips_per_s * self.data.s3_requests_per_clip


def worker_counts(recipe: RecipeBase, recipe_steps: int) -> list[WorkerCount]:
    sizes = sorted({min(recipe.scaling.world_sizes), recipe.scaling.num_workers})
    counts = []
    for size in sizes:
        batch = recipe.batch_at(size)
        steps = batch.steps_per_epoch(recipe_steps)
        counts.append(WorkerCount(batch, steps, steps * recipe.optim.epochs))
    return counts


def schedule_points(optim: OptimConfig) -> list[SchedulePoint]:
    """Start, warm-up end, the cosine's half-way point (half the peak: the cosine spans all epochs, the warm-up
    ramps to its value) or each step drop, and the last epoch's start."""
    marks: list[tuple[str, float]] = [("start", 0.0)]
    if optim.warmup_epochs:
        marks.append(("warm-up end", optim.warmup_epochs))
    if optim.schedule == "cosine":
        marks.append(("cosine half-way", optim.epochs / 2))
    else:
        marks += [(f"lr x {optim.step_gamma:g}", float(epoch)) for epoch in optim.step_epochs if epoch < optim.epochs]
    marks.append(("last epoch", optim.epochs - 1.0))
    return [SchedulePoint(what, epoch, learning_rate(optim, epoch)) for what, epoch in sorted(marks, key=lambda m: m[1])]


def model_cost(recipe: RecipeBase, num_classes: int) -> ModelCost:
    """Sizes and MACs of the recipe's model built on the meta device: shapes only, nothing allocated or computed."""
    return _model_cost(recipe.model.model_dump_json(), num_classes)


@functools.lru_cache(maxsize=8)
def _model_cost(model_json: str, num_classes: int) -> ModelCost:
    from sfp_train.models.config import ModelConfig
    from sfp_train.models.packing import pathway_shapes
    from sfp_train.models.summary import meta_model, summarize

    config = ModelConfig.model_validate_json(model_json)
    model = meta_model(config, num_classes)
    shapes = pathway_shapes(arch=config.arch, clip_frames=config.clip_frames, alpha=config.alpha,
                            crop_size=config.crop_size)
    summary = summarize(model, shapes)
    buffers = sum(buffer.numel() for buffer in model.buffers() if buffer.is_floating_point())
    return ModelCost(summary.params, buffers, summary.macs)


def checkpoint_plan(recipe: RecipeBase, model: ModelCost) -> CheckpointPlan:
    every = recipe.checkpoint.every_n_epochs
    epochs = recipe.optim.epochs
    return CheckpointPlan(
        every_n_epochs=every,
        count=epochs // every + (1 if epochs % every else 0),  # and always the last epoch's
        keep=recipe.checkpoint.keep,
        parameters=model.parameters,
        buffers=model.buffers,
        optimizer_slots=2 if recipe.optim.optimizer == "adamw" else 1,
    )


def plan_training(recipe: RecipeBase, data: DataVolume, num_classes: int, clips_per_s: float | None = None) -> TrainPlan:
    """The plan of `recipe` over `data`; `clips_per_s` per worker, else the estimate from FIGURES (the smaller of
    one GPU's model-bound rate and what the worker's `scaling.cpus_per_worker` read and draw)."""
    from sfp_train.trainer import steps_per_epoch  # the driver's own count (and its one-line errors)

    recipe_steps = steps_per_epoch(recipe, data.train_clips)
    model = model_cost(recipe, num_classes)
    if clips_per_s is not None:
        throughput = Throughput(clips_per_s, "given (--clips-per-s)")
    else:
        model_bound = gpu_clips_per_s(model.forward_macs)
        host_bound = host_clips_per_s(recipe.scaling.cpus_per_worker)
        bound = ("host-bound: " if host_bound < model_bound else "model-bound: ")
        throughput = Throughput(min(model_bound, host_bound), (
            f"estimate, {bound}one H200 at {figure('gpu_utilisation'):.0%} utilisation: {model_bound:.0f} clips/s; "
            f"{recipe.scaling.cpus_per_worker:g} host CPUs x {figure('host_clips_per_cpu_s'):g} clips per CPU-s: "
            f"{host_bound:.0f}"))
    return TrainPlan(
        name=recipe.name,
        epochs=recipe.optim.epochs,
        recipe_batch=recipe.optim.batch_size,
        workers=worker_counts(recipe, recipe_steps),
        schedule=schedule_points(recipe.optim),
        model=model,
        checkpoint=checkpoint_plan(recipe, model),
        data=data,
        throughput=throughput,
    )


def kinetics_data(recipe: TrainRecipe, train_clips: int | None = None, classes: int | None = None
                  ) -> tuple[DataVolume, int]:
    """(data volume, classes) of a Kinetics-style recipe: from its frame store (manifest and index), or, when the
    user states `train_clips` (the store is then not read), from that and the measured bytes per frame."""
    window = recipe.model.clip_frames * recipe.data.sampling_rate
    if train_clips is not None:
        stated = f"{classes} classes" if classes else "400 classes assumed (Kinetics-400's)"
        return data_volume(train_clips, f"--train-clips; {stated}", window), classes or 400
    from sfp.framestore import FrameStore

    try:
        store = FrameStore.open(recipe.data.framestore)
    except SfpError as error:
        raise SfpError(f"{error}; a dry run without the store needs --train-clips N") from None
    clips = store.manifest.splits.get(recipe.data.train_split, 0)
    source = f"split {recipe.data.train_split!r} of {recipe.data.framestore}; {len(store.manifest.classes)} classes"
    return data_volume(clips, source, window, store), classes or len(store.manifest.classes)


def ava_data(recipe, train_clips: int | None = None, classes: int | None = None) -> tuple[DataVolume, int]:
    """(data volume, actions) of an AVA recipe (`sfp_train.ava.recipe.AvaRecipe`): a training clip is a keyframe of
    the train annotations, its window read from the movies' frame store; or, with `train_clips`, the user's count
    (neither annotations nor store are read) and the measured bytes per frame."""
    window = recipe.model.clip_frames * recipe.data.sampling_rate
    if train_clips is not None:
        stated = f"{classes} actions" if classes else "80 actions assumed (AVA v2.2's)"
        return data_volume(train_clips, f"--train-clips; {stated}", window), classes or 80
    from sfp.framestore import FrameStore
    from sfp_train.ava.data import train_keyframes
    from sfp_train.ava.labelmap import read_labelmap

    try:
        labelmap = read_labelmap(recipe.data.labelmap)
        keyframes = len(train_keyframes(recipe.data, labelmap))
        store = FrameStore.open(recipe.data.framestore)
    except SfpError as error:
        raise SfpError(f"{error}; a dry run without the annotations and the store needs --train-clips N") from None
    source = f"keyframes of {recipe.data.train_annotations}; {len(labelmap)} actions"
    return data_volume(keyframes, source, window, store), classes or len(labelmap)


def data_volume(train_clips: int, clips_source: str, window_frames: int, store=None) -> DataVolume:
    """Bytes per frame from the frame store (its size over its frames, from manifest and index) when `store` is
    given, else the measured figure."""
    if store is not None:
        frames = sum(record.num_frames for record in store.records)
        size = store.manifest.total_bytes
        return DataVolume(train_clips, clips_source, window_frames, size / max(frames, 1),
                          f"the frame store ({frames} frames, {format_bytes(size)})", size)
    return DataVolume(train_clips, clips_source, window_frames, figure("store_bytes_per_frame"),
                      "FIGURES: store_bytes_per_frame", None)


def format_bytes(count: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count:.0f} B"


def format_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def plan_lines(plan: TrainPlan) -> list[str]:
    """What `--dry-run` prints."""
    data, checkpoint = plan.data, plan.checkpoint
    lines = [f"dry run: {plan.name} ({plan.epochs} epochs, global batch {plan.recipe_batch}); nothing was started",
             f"data: {data.train_clips} training clips ({data.clips_source})"]
    lines.append("workers:")
    for count in plan.workers:
        batch = count.batch
        scale = "" if batch.exact else f", lr x {batch.lr_scale:.4g}"
        lines.append(f"  {batch.world_size:>4} workers: micro batch {batch.micro_batch} x {batch.accumulation} "
                     f"accumulated = global batch {batch.global_batch}{scale}; {count.steps_per_epoch} steps per "
                     f"epoch, {count.total_steps} in all")
    most = plan.workers[-1]
    lines.append(f"learning rate at the recipe's batch (steps at {most.batch.world_size} workers):")
    for point in plan.schedule:
        lines.append(f"  epoch {point.epoch:>6g}  step {round(point.epoch * most.steps_per_epoch):>7}  lr {point.lr:.4g}"
                     f"  {point.what}")
    lines.append(f"checkpoints: every {checkpoint.every_n_epochs} epoch(s), {checkpoint.count} in all, "
                 f"{format_bytes(checkpoint.bytes_each)} each ({checkpoint.parameters / 1e6:.2f}M parameters: fp32 "
                 f"weights twice + optimiser state), {format_bytes(checkpoint.bytes_written)} written, "
                 f"{format_bytes(checkpoint.keep * checkpoint.bytes_each)} kept ({checkpoint.keep})")
    lines.append(f"per clip: {data.window_frames}-frame window at {format_bytes(data.bytes_per_frame)} a frame "
                 f"({data.bytes_source}): {format_bytes(data.s3_bytes_per_clip)} and "
                 f"{data.s3_requests_per_clip:g} requests from S3")
    lines.append(f"model: {plan.model.forward_macs / 1e9:.1f} GMACs forward per clip, "
                 f"{training_flops(plan.model.forward_macs) / 1e9:.0f} GFLOP to train on it")
    lines.append(f"speed: {plan.throughput.clips_per_s:.0f} clips/s per worker ({plan.throughput.source})")
    limit = figure("s3_get_per_s_per_prefix")
    for count in plan.workers:
        epoch = plan.epoch_seconds(count)
        rate = plan.s3_requests_per_s(count)
        lines.append(f"  {count.batch.world_size:>4} workers: epoch {format_seconds(epoch)}, all "
                     f"{format_seconds(epoch * plan.epochs)}; {format_bytes(count.clips_per_epoch * data.s3_bytes_per_clip)}"
                     f" per epoch from S3 at {rate:,.0f} requests/s ({rate / limit:.2g}x S3's {limit:,.0f} per "
                     f"prefix); a checkpoint every {format_seconds(epoch * checkpoint.every_n_epochs)}")
    return lines


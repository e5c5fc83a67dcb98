"""Ray Data pipelines from a frame store to batches of sampled JPEG frames, decoded on the training worker's device.

The dataset rows are the frame store's index (tiny); the map stage reads each clip's sampled frames (one ranged read
of the row groups they live in), draws the view (training: window, crop and flip; test: window and spatial crop) and
emits the compressed frames with where the view lies: `{"jpegs": per row the T frames' bytes, "region": [B, 4],
"flip": [B], "label": [B], ...}`. The worker decodes, resamples, normalises and packs them on its own device
(`device_decode.ClipDecoder`, built by `train_decoder` / `eval_decoder` from the same config), so neither decoding
nor float tensors cost host CPU or object-store bandwidth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sfp.framestore import ClipLocation, FrameStore
from sfp_train.data.config import ClipSamplingConfig, DataConfig
from sfp_train.data.device_decode import FLIP_COLUMN, JPEG_COLUMN, REGION_COLUMN, ClipDecoder, eval_region, train_region
from sfp_train.data.order import SeededFeed, row_rng
from sfp_train.data.sampling import train_frame_indices, view_frame_indices
from sfp_train.data.transforms import sample_crop

INDEX_COLUMNS = ("clip_id", "label_id", "num_frames", "width", "height", "shard", "row_group", "row_in_group")
INDEX_ROWS_PER_BLOCK = 256
MIN_INDEX_BLOCKS = 8


def index_blocks(num_rows: int) -> int:
    """Blocks for a dataset of `num_rows` index rows: enough for parallel decode tasks, few enough that a per-epoch
    `random_shuffle` stays cheap. (Ray's default for `from_items` is one block per row up to 200: shuffling 108 such
    rows took 80 s on the first epoch and 13 s on each later one on 2 cores; 8 blocks take 3 s.)"""
    return max(1, min(num_rows, max(MIN_INDEX_BLOCKS, -(-num_rows // INDEX_ROWS_PER_BLOCK))))


def index_dataset(rows: list[dict[str, Any]]):
    """A Ray Dataset of tiny index rows (clip locations, view numbers) in `index_blocks` blocks."""
    import ray

    return ray.data.from_items(rows, override_num_blocks=index_blocks(len(rows)))


def index_rows(store: FrameStore, split: str) -> list[dict[str, Any]]:
    rows = [{name: getattr(record, name) for name in INDEX_COLUMNS} for record in store.clips(split)]
    if not rows:
        raise ValueError(f"{store.uri}: no clips in split {split!r} (splits: {store.manifest.splits})")
    return rows


def _location(batch: dict[str, np.ndarray], position: int) -> ClipLocation:
    return ClipLocation(str(batch["shard"][position]), int(batch["row_group"][position]), int(batch["row_in_group"][position]))


def jpeg_column(clips: list[list[bytes]]) -> np.ndarray:
    """Per row, one clip's JPEG frames (Arrow `list<binary>` in the block)."""
    column = np.empty(len(clips), dtype=object)
    for row, frames in enumerate(clips):  # element by element: numpy would make equal-length lists a 2-D array
        column[row] = frames
    return column


def view_batch(jpegs: list[list[bytes]], regions: list[tuple[float, ...]], flips: list[bool]) -> dict[str, np.ndarray]:
    return {JPEG_COLUMN: jpeg_column(jpegs), REGION_COLUMN: np.asarray(regions, dtype=np.float32).reshape(-1, 4),
            FLIP_COLUMN: np.asarray(flips, dtype=bool)}


class TrainClipLoader:
    """Map function: a batch of index rows -> each clip's sampled frames with its training view (window, scale
    jitter and crop, flip: the reference's augmentation, drawn here and applied by the decoder). With `seed`, a
    row's draws come from its epoch and position (`order.row_rng`)."""

    def __init__(self, store: FrameStore, data: DataConfig, *, num_frames: int, seed: int | None = None) -> None:
        self.store, self.data, self.num_frames, self.seed = store, data, num_frames, seed

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        data = self.data
        jpegs, regions, flips = [], [], []
        for position in range(len(batch["clip_id"])):
            rng = row_rng(self.seed, batch, position)
            indices = train_frame_indices(int(batch["num_frames"][position]), self.num_frames, data.sampling_rate, rng)
            jpegs.append(self.store.read_jpegs(_location(batch, position), indices))
            window = sample_crop(int(batch["height"][position]), int(batch["width"][position]),
                                 short_side_range=data.train_short_side, crop_size=data.crop_size, rng=rng)
            regions.append(train_region(window))
            flips.append(bool(data.flip and rng.random() < 0.5))
        return {**view_batch(jpegs, regions, flips), "label": np.asarray(batch["label_id"], dtype=np.int64)}


class EvalViewLoader:
    """Map function: a batch of clip rows -> every test view of each clip (`test_temporal_views` windows x
    `test_spatial_crops` crops), its frames read once for all of its windows."""

    def __init__(self, store: FrameStore, data: DataConfig, *, num_frames: int) -> None:
        self.store, self.data, self.num_frames = store, data, num_frames

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        data = self.data
        jpegs, regions, labels, clip_indices = [], [], [], []
        for position in range(len(batch["clip_id"])):
            windows = [view_frame_indices(int(batch["num_frames"][position]), self.num_frames, data.sampling_rate,
                                          view, data.test_temporal_views) for view in range(data.test_temporal_views)]
            needed = sorted({int(index) for window in windows for index in window})
            frames = dict(zip(needed, self.store.read_jpegs(_location(batch, position), needed)))  # one read
            height, width = int(batch["height"][position]), int(batch["width"][position])
            for window in windows:
                for crop_index in range(data.test_spatial_crops):
                    jpegs.append([frames[int(index)] for index in window])
                    regions.append(eval_region(height, width, short_side=data.test_short_side,
                                               crop_size=data.test_crop_size, crop_index=crop_index,
                                               num_crops=data.test_spatial_crops))
                    labels.append(int(batch["label_id"][position]))
                    clip_indices.append(int(batch["clip_index"][position]))
        packed = view_batch(jpegs, regions, [False] * len(jpegs))
        packed["label"] = np.asarray(labels, dtype=np.int64)
        packed["clip_index"] = np.asarray(clip_indices, dtype=np.int64)
        return packed


def train_decoder(data: ClipSamplingConfig, *, arch: str, alpha: int) -> ClipDecoder:
    """The worker-side half of the training loaders (Kinetics' and AVA's): views at `crop_size`."""
    return ClipDecoder(size=data.crop_size, mean=data.mean, std=data.std, arch=arch, alpha=alpha, uint8_resize=True)


def eval_decoder(data: DataConfig, *, arch: str, alpha: int) -> ClipDecoder:
    """The worker-side half of `EvalViewLoader`: views at `test_crop_size`."""
    return ClipDecoder(size=data.test_crop_size, mean=data.mean, std=data.std, arch=arch, alpha=alpha)


def train_feed(store: FrameStore, data: DataConfig, *, num_frames: int, seed: int) -> SeededFeed:
    """The training clips in the seeded order of `order.py`: each worker reads its share of every epoch."""
    return SeededFeed(index_rows(store, data.train_split), TrainClipLoader(store, data, num_frames=num_frames, seed=seed),
                      seed, data.loader_batch_size, data.loader_cpus)


def eval_dataset(store: FrameStore, data: DataConfig, split: str, *, num_frames: int):
    """Every clip of `split` (`clip_index`: its position in `index_rows`) as `test_temporal_views x
    test_spatial_crops` views, in a fixed order."""
    loader = EvalViewLoader(store, data, num_frames=num_frames)
    rows = [{**row, "clip_index": clip_index} for clip_index, row in enumerate(index_rows(store, split))]
    return index_dataset(rows).map_batches(loader, batch_size=data.loader_batch_size, num_cpus=data.loader_cpus)


def single_view(data: DataConfig) -> DataConfig:
    """Validation during training: one view per clip, the centre window's centre crop at the training crop size."""
    return data.model_copy(update={"test_temporal_views": 1, "test_spatial_crops": 1,
                                   "test_short_side": data.crop_size, "test_crop_size": data.crop_size})


@dataclass(frozen=True)
class TrainingInputs:
    """What a training run reads: the seeded training feed (built per worker and epoch), the validation dataset
    (split across workers by Ray Train) and the decoders that turn their batches into model inputs on the workers."""

    train: SeededFeed
    val: Any  # ray.data.Dataset
    train_decoder: ClipDecoder
    val_decoder: ClipDecoder


def training_inputs(store: FrameStore, data: DataConfig, *, num_frames: int, arch: str, alpha: int,
                    seed: int) -> TrainingInputs:
    """Kinetics: augmented training clips, single-view validation."""
    val = single_view(data)
    return TrainingInputs(train_feed(store, data, num_frames=num_frames, seed=seed),
                          eval_dataset(store, val, data.val_split, num_frames=num_frames),
                          train_decoder(data, arch=arch, alpha=alpha), eval_decoder(val, arch=arch, alpha=alpha))

"""Ray Data pipelines from a frame store to batches of model inputs.

The dataset rows are the frame store's index (tiny); the map stage reads each clip's row group, decodes only the
sampled JPEG frames, augments them and packs the pathways, all in Ray Data tasks. The training process only
receives ready tensors: `{"pathway_0": [B, 3, T0, h, w], ("pathway_1": ...), "label": [B]}`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from sfp.framestore import ClipLocation, FrameStore
from sfp_train.data.config import DataConfig
from sfp_train.data.sampling import view_frame_indices, train_frame_indices
from sfp_train.data.transforms import eval_transform, train_transform
from sfp_train.models.packing import pathway_inputs

INDEX_COLUMNS = ("clip_id", "label_id", "num_frames", "shard", "row_group", "row_in_group")
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


def _pack(clips: list[torch.Tensor], arch: str, alpha: int) -> dict[str, np.ndarray]:
    batch = torch.stack(clips)
    return {f"pathway_{i}": tensor.numpy() for i, tensor in enumerate(pathway_inputs(batch, arch, alpha))}


class TrainClipLoader:
    """Map function: a batch of index rows -> a batch of augmented, packed training clips."""

    def __init__(self, store: FrameStore, data: DataConfig, *, num_frames: int, arch: str, alpha: int) -> None:
        self.store, self.data = store, data
        self.num_frames, self.arch, self.alpha = num_frames, arch, alpha

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rng = np.random.default_rng()
        data = self.data
        clips = []
        for position in range(len(batch["clip_id"])):
            location = _location(batch, position)
            indices = train_frame_indices(int(batch["num_frames"][position]), self.num_frames, data.sampling_rate, rng)
            frames = self.store.read_frames(location, indices, max_short_side=data.train_short_side[0])
            clips.append(
                train_transform(
                    frames,
                    short_side_range=data.train_short_side,
                    crop_size=data.crop_size,
                    flip=data.flip,
                    mean=data.mean,
                    std=data.std,
                    rng=rng,
                )
            )
        packed = _pack(clips, self.arch, self.alpha)
        packed["label"] = np.asarray(batch["label_id"], dtype=np.int64)
        return packed


class EvalViewLoader:
    """Map function: a batch of (clip, view) rows -> the test views (temporal window x spatial crop)."""

    def __init__(self, store: FrameStore, data: DataConfig, *, num_frames: int, arch: str, alpha: int) -> None:
        self.store, self.data = store, data
        self.num_frames, self.arch, self.alpha = num_frames, arch, alpha

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        data = self.data
        clips = []
        for position in range(len(batch["clip_id"])):
            location = _location(batch, position)
            view = int(batch["temporal_view"][position])
            indices = view_frame_indices(
                int(batch["num_frames"][position]), self.num_frames, data.sampling_rate, view, data.test_temporal_views
            )
            frames = self.store.read_frames(location, indices, max_short_side=data.test_short_side)
            clips.append(
                eval_transform(
                    frames,
                    short_side=data.test_short_side,
                    crop_size=data.test_crop_size,
                    crop_index=int(batch["spatial_crop"][position]),
                    num_crops=data.test_spatial_crops,
                    mean=data.mean,
                    std=data.std,
                )
            )
        packed = _pack(clips, self.arch, self.alpha)
        packed["label"] = np.asarray(batch["label_id"], dtype=np.int64)
        packed["clip_index"] = np.asarray(batch["clip_index"], dtype=np.int64)
        return packed


def train_dataset(store: FrameStore, data: DataConfig, *, num_frames: int, arch: str, alpha: int):
    """Training clips, reshuffled on every pass (every epoch re-executes the shuffle and the random sampling)."""
    loader = TrainClipLoader(store, data, num_frames=num_frames, arch=arch, alpha=alpha)
    return (
        index_dataset(index_rows(store, data.train_split))
        .random_shuffle()
        .map_batches(loader, batch_size=data.loader_batch_size, num_cpus=data.loader_cpus)
    )


def eval_view_rows(store: FrameStore, data: DataConfig, split: str) -> list[dict[str, Any]]:
    rows = []
    for clip_index, row in enumerate(index_rows(store, split)):
        for view in range(data.test_temporal_views):
            for spatial in range(data.test_spatial_crops):
                rows.append({**row, "clip_index": clip_index, "temporal_view": view, "spatial_crop": spatial})
    return rows


def eval_dataset(store: FrameStore, data: DataConfig, split: str, *, num_frames: int, arch: str, alpha: int):
    """Every clip of `split` as `test_temporal_views x test_spatial_crops` views, in a fixed order."""
    loader = EvalViewLoader(store, data, num_frames=num_frames, arch=arch, alpha=alpha)
    return index_dataset(eval_view_rows(store, data, split)).map_batches(
        loader, batch_size=data.loader_batch_size, num_cpus=data.loader_cpus
    )

"""JPEG bytes to model inputs on the training worker's own device: decode, crop and resize, flip, normalise, pack.

Ray Data tasks only read and sample (`pipeline.py`): each row is a clip's sampled JPEG frames and where its view lies
in the source frames (`region`: top, left, height, width in source pixels, fractional for test views) with a flip
flag. The worker decodes the whole batch with one `torchvision.io.decode_jpeg(list, device=...)` call (nvJPEG on a
GPU, libjpeg-turbo on CPU) and cuts every frame's view with one `roi_align` per frame size: with `aligned=True` and
one sample per bin, RoIAlign is bilinear resampling of the region at the output pixels' centres, the very samples
`F.interpolate(crop, size, mode="bilinear", align_corners=False)` takes, so the reference's short-side jitter +
random crop (train) and short-side resize + spatial crop (test) are reproduced exactly (`transforms.py` holds the
reference forms; tests compare them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from sfp_train.models.packing import pathway_inputs

JPEG_COLUMN = "jpegs"  # per row: the sampled frames' JPEG bytes, in time order
REGION_COLUMN = "region"  # per row: float32 (top, left, height, width) of the view in source pixels
FLIP_COLUMN = "flip"  # per row: mirror the view


@dataclass(frozen=True)
class ClipDecoder:
    """Batches of sampled JPEG frames -> `{"pathway_i": [B, 3, T_i, s, s] float32, ...}` on `device`; every other
    column is moved to the device as a tensor."""

    size: int  # output side: the crop (train) or the test crop
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    arch: str
    alpha: int

    def __call__(self, batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
        jpegs: Sequence[Sequence[bytes]] = batch[JPEG_COLUMN]
        clips = decode_views(jpegs, np.asarray(batch[REGION_COLUMN], dtype=np.float32),
                             np.asarray(batch[FLIP_COLUMN], dtype=bool), self.size, device)
        clips = normalize(clips, self.mean, self.std)
        out = {f"pathway_{i}": x for i, x in enumerate(pathway_inputs(clips, self.arch, self.alpha))}
        for key, value in batch.items():
            if key not in (JPEG_COLUMN, REGION_COLUMN, FLIP_COLUMN):
                out[key] = torch.as_tensor(np.asarray(value)).to(device, non_blocking=True)
        return out


def decode_views(jpegs: Sequence[Sequence[bytes]], regions: np.ndarray, flips: np.ndarray, size: int,
                 device: torch.device) -> torch.Tensor:
    """uint8-valued float32 `[B, 3, T, size, size]`: each clip's frames decoded on `device`, its region resampled to
    `size` x `size`, mirrored where `flips` says."""
    from torchvision.io import decode_jpeg
    from torchvision.ops import roi_align

    counts = [len(frames) for frames in jpegs]
    if len(set(counts)) != 1:
        raise ValueError(f"clips of a batch must have the same number of frames, got {sorted(set(counts))}")
    data = [torch.frombuffer(bytearray(jpeg), dtype=torch.uint8) for frames in jpegs for jpeg in frames]
    frames = decode_jpeg(data, device=device)  # one call for the batch: nvJPEG batches it on a GPU
    num_frames = counts[0]
    boxes = torch.as_tensor(regions, dtype=torch.float32).repeat_interleave(num_frames, dim=0)  # per frame
    out = torch.empty(len(frames), 3, size, size, dtype=torch.float32, device=device)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for index, frame in enumerate(frames):
        by_shape.setdefault(tuple(frame.shape[-2:]), []).append(index)
    for positions in by_shape.values():  # one RoIAlign per source frame size (one, in a store of one resolution)
        stacked = torch.stack([frames[i] for i in positions]).float()
        top, left, height, width = boxes[positions].unbind(1)
        rois = torch.stack([torch.arange(len(positions), dtype=torch.float32), left, top, left + width, top + height],
                           dim=1).to(device)
        index = torch.as_tensor(positions, device=device)
        out[index] = roi_align(stacked, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=1,
                               aligned=True)
    clips = out.view(len(jpegs), num_frames, 3, size, size).permute(0, 2, 1, 3, 4)  # [B, 3, T, s, s]
    mirror = torch.as_tensor(flips, device=device).view(-1, 1, 1, 1, 1)
    return torch.where(mirror, clips.flip(-1), clips)


def normalize(clips: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """`[B, 3, T, H, W]` in 0..255 -> `(x / 255 - mean) / std`, contiguous."""
    scale = torch.tensor([1 / (255.0 * s) for s in std], device=clips.device).view(1, 3, 1, 1, 1)
    shift = torch.tensor([m / s for m, s in zip(mean, std)], device=clips.device).view(1, 3, 1, 1, 1)
    return (clips * scale - shift).contiguous()


def train_region(window) -> tuple[float, float, float, float]:
    """A training crop window (`transforms.sample_crop`) as a region."""
    return float(window.top), float(window.left), float(window.side), float(window.side)


def test_region(height: int, width: int, *, short_side: int, crop_size: int, crop_index: int,
                num_crops: int) -> tuple[float, float, float, float]:
    """The source region that `resize_short_side(short_side)` then `spatial_crop(crop_size, crop_index)` keeps
    (`transforms.py`): the crop's offsets in the resized frame, scaled back by each axis' own resize factor."""
    if height < width:
        resized = (short_side, int(round(width * short_side / height)))
    else:
        resized = (int(round(height * short_side / width)), short_side)
    if min(height, width) == short_side:
        resized = (height, width)
    res_h, res_w = resized
    position = crop_index / (num_crops - 1) if num_crops > 1 else 0.5
    top = int(round((res_h - crop_size) * position)) if res_h > res_w else (res_h - crop_size) // 2
    left = int(round((res_w - crop_size) * position)) if res_w >= res_h else (res_w - crop_size) // 2
    scale_y, scale_x = height / res_h, width / res_w
    return top * scale_y, left * scale_x, crop_size * scale_y, crop_size * scale_x

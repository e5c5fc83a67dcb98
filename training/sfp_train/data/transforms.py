"""Spatial transforms on decoded frames, as the reference recipe: short-side jitter, random crop, flip, normalise.

Frames come in as uint8 `[T, H, W, 3]` and leave as float32 `[3, T, h, w]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 `[T, H, W, 3]` -> float32 `[3, T, H, W]` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div_(255.0)


def resize_short_side(clip: torch.Tensor, short_side: int) -> torch.Tensor:
    """`[3, T, H, W]` -> short side `short_side`, aspect ratio kept (bilinear, as PySlowFast)."""
    height, width = clip.shape[-2:]
    if min(height, width) == short_side:
        return clip
    if height < width:
        size = (short_side, int(round(width * short_side / height)))
    else:
        size = (int(round(height * short_side / width)), short_side)
    return F.interpolate(clip, size=size, mode="bilinear", align_corners=False)


def crop(clip: torch.Tensor, size: int, top: int, left: int) -> torch.Tensor:
    return clip[..., top : top + size, left : left + size]


def spatial_crop(clip: torch.Tensor, size: int, index: int, num_crops: int) -> torch.Tensor:
    """The `index`-th of `num_crops` crops along the long side (3 crops: left/top, centre, right/bottom)."""
    height, width = clip.shape[-2:]
    position = index / (num_crops - 1) if num_crops > 1 else 0.5
    top = int(round((height - size) * position)) if height > width else (height - size) // 2
    left = int(round((width - size) * position)) if width >= height else (width - size) // 2
    return crop(clip, size, top, left)


def normalize(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    mean_t = torch.tensor(mean, dtype=clip.dtype).view(-1, 1, 1, 1)
    std_t = torch.tensor(std, dtype=clip.dtype).view(-1, 1, 1, 1)
    return (clip - mean_t) / std_t


@dataclass(frozen=True)
class CropWindow:
    """A square of the source frames, in source pixels: what a training crop is cut from."""

    top: int
    left: int
    side: int


def sample_crop(
    height: int, width: int, *, short_side_range: tuple[int, int], crop_size: int, rng: np.random.Generator
) -> CropWindow:
    """The reference's short-side jitter and random crop as one window of the source: resizing the frames to a random
    short side in `short_side_range` and cropping `crop_size` there is cropping `crop_size / scale` source pixels."""
    scale = int(rng.integers(short_side_range[0], short_side_range[1] + 1)) / min(height, width)
    side = min(int(round(crop_size / scale)), height, width)
    return CropWindow(top=int(rng.integers(0, height - side + 1)), left=int(rng.integers(0, width - side + 1)), side=side)


def crop_uint8(frames: np.ndarray, window: CropWindow, crop_size: int) -> torch.Tensor:
    """uint8 `[T, H, W, 3]` -> the window resized to `crop_size`, uint8 `[T, 3, s, s]` channels-last (PyTorch's
    vectorised uint8 kernel: measured 2x faster than resizing float frames)."""
    cut = frames[:, window.top : window.top + window.side, window.left : window.left + window.side]
    clip = torch.from_numpy(np.ascontiguousarray(cut)).permute(0, 3, 1, 2)
    if window.side != crop_size:
        clip = F.interpolate(clip, size=(crop_size, crop_size), mode="bilinear", align_corners=False, antialias=False)
    return clip


def train_transform(
    frames: np.ndarray,
    *,
    short_side_range: tuple[int, int],
    crop_size: int,
    flip: bool,
    mean: Sequence[float],
    std: Sequence[float],
    rng: np.random.Generator,
) -> torch.Tensor:
    """Short-side jitter, random crop, flip, normalise: the reference's training augmentation, computed the cheap way
    round: the crop is cut from the uint8 source, resized and flipped while still uint8, and converted to float and
    normalised in one pass at the end."""
    window = sample_crop(*frames.shape[1:3], short_side_range=short_side_range, crop_size=crop_size, rng=rng)
    clip = crop_uint8(frames, window, crop_size)
    if flip and rng.random() < 0.5:
        clip = clip.flip(-1)
    return normalize_uint8(clip.permute(1, 0, 2, 3), mean, std)


def normalize_uint8(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 `[3, T, H, W]` (any strides) -> contiguous float32 `(clip / 255 - mean) / std`, in one allocation."""
    out = torch.empty(clip.shape, dtype=torch.float32)
    out.copy_(clip)
    scale = torch.tensor([255.0 * s for s in std]).view(-1, 1, 1, 1)
    shift = torch.tensor([255.0 * m for m in mean]).view(-1, 1, 1, 1)
    return out.sub_(shift).div_(scale)


def eval_transform(
    frames: np.ndarray,
    *,
    short_side: int,
    crop_size: int,
    crop_index: int,
    num_crops: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    clip = resize_short_side(to_tensor(frames), short_side)
    return normalize(spatial_crop(clip, crop_size, crop_index, num_crops), mean, std)

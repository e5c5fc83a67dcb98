"""Spatial transforms on decoded frames, as the reference recipe: short-side jitter, random crop, flip, normalise.

Frames come in as uint8 `[T, H, W, 3]` and leave as float32 `[3, T, h, w]`.
"""

from __future__ import annotations

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


def random_crop(clip: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    height, width = clip.shape[-2:]
    return crop(clip, size, int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1)))


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
    clip = to_tensor(frames)
    clip = resize_short_side(clip, int(rng.integers(short_side_range[0], short_side_range[1] + 1)))
    clip = random_crop(clip, crop_size, rng)
    if flip and rng.random() < 0.5:
        clip = clip.flip(-1)
    return normalize(clip, mean, std)


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

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
    """Short-side jitter, random crop, flip, normalise: the reference's training augmentation.

    Equivalent to resizing the whole clip to a random short side and cropping `crop_size`, but computed the cheap
    way round: the crop is cut from the uint8 source (its side is `crop_size / scale` source pixels), resized and
    flipped while still uint8 (channels-last, PyTorch's vectorised uint8 kernel), and converted to float and
    normalised in one pass at the end (measured 2x faster than resizing float frames).
    """
    height, width = frames.shape[1:3]
    scale = int(rng.integers(short_side_range[0], short_side_range[1] + 1)) / min(height, width)
    side = min(int(round(crop_size / scale)), height, width)
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    # [T, side, side, 3] uint8 viewed as a channels-last [T, 3, side, side] batch
    clip = torch.from_numpy(np.ascontiguousarray(frames[:, top : top + side, left : left + side])).permute(0, 3, 1, 2)
    if side != crop_size:
        clip = F.interpolate(clip, size=(crop_size, crop_size), mode="bilinear", align_corners=False, antialias=False)
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

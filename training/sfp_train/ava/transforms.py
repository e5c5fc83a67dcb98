"""Spatial transforms of a keyframe's window and its person boxes, applied together so the boxes stay on the people.

Frames come in as uint8 `[T, H, W, 3]`, boxes as normalised `[N, 4]` `(x1, y1, x2, y2)`; they leave as float32
`[3, T, h, w]` and boxes in pixels of the output (what the RoI head takes). Training: short-side jitter, a random
square crop, a horizontal flip (the reference's AVA augmentation); testing: the short side resized, no crop, padded
at the right and bottom to a fixed width so that clips of any aspect ratio batch together (padding does not move
boxes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from sfp_train.data.device_decode import resized_shape
from sfp_train.data.transforms import (
    CropWindow,
    crop_uint8,
    normalize,
    normalize_uint8,
    resize_short_side,
    sample_crop,
    to_tensor,
)


def to_pixels(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised boxes -> pixel boxes of a `width x height` image."""
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * np.array([width, height, width, height], np.float32)


def crop_boxes(boxes: np.ndarray, left: float, top: float, scale: float, size: int) -> np.ndarray:
    """Pixel boxes of the source -> pixel boxes of a crop whose top-left is (`left`, `top`) in the source, resized by
    `scale` to `size x size`, clipped to the crop (a box outside it becomes degenerate, as in the reference)."""
    shifted = (boxes - np.array([left, top, left, top], np.float32)) * scale
    return np.clip(shifted, 0.0, float(size)).astype(np.float32)


def flip_boxes(boxes: np.ndarray, width: int) -> np.ndarray:
    """Mirror pixel boxes of an image `width` wide left to right."""
    flipped = boxes.copy()
    flipped[:, 0], flipped[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return flipped


def train_view_with_boxes(
    height: int,
    width: int,
    boxes: np.ndarray,
    *,
    short_side_range: tuple[int, int],
    crop_size: int,
    flip: bool,
    rng: np.random.Generator,
) -> tuple[CropWindow, bool, np.ndarray]:
    """The training view of a `height x width` window: the crop (short-side jitter and random square crop, the
    Kinetics sampling `sample_crop`), whether it is mirrored, and the boxes moved along into its pixels."""
    window = sample_crop(height, width, short_side_range=short_side_range, crop_size=crop_size, rng=rng)
    pixel_boxes = crop_boxes(to_pixels(boxes, width, height), window.left, window.top, crop_size / window.side,
                             crop_size)
    mirrored = bool(flip and rng.random() < 0.5)
    if mirrored:
        pixel_boxes = flip_boxes(pixel_boxes, crop_size)
    return window, mirrored, pixel_boxes


def train_transform_with_boxes(
    frames: np.ndarray,
    boxes: np.ndarray,
    *,
    short_side_range: tuple[int, int],
    crop_size: int,
    flip: bool,
    mean: Sequence[float],
    std: Sequence[float],
    rng: np.random.Generator,
) -> tuple[torch.Tensor, np.ndarray]:
    """`train_view_with_boxes` applied to decoded frames (the reference form of what the worker's decoder does):
    like the Kinetics path the clip stays uint8 until one normalising pass at the end."""
    window, mirrored, pixel_boxes = train_view_with_boxes(*frames.shape[1:3], boxes, short_side_range=short_side_range,
                                                          crop_size=crop_size, flip=flip, rng=rng)
    clip = crop_uint8(frames, window, crop_size)
    if mirrored:
        clip = clip.flip(-1)
    return normalize_uint8(clip.permute(1, 0, 2, 3), mean, std), pixel_boxes


def padded_width(short_side: int, max_aspect: float, multiple: int = 16) -> int:
    """The fixed test width: the long side of a `max_aspect` frame, rounded up to `multiple`."""
    return int(np.ceil(short_side * max_aspect / multiple) * multiple)


def eval_transform_with_boxes(
    frames: np.ndarray,
    boxes: np.ndarray,
    *,
    short_side: int,
    max_aspect: float,
    mean: Sequence[float],
    std: Sequence[float],
) -> tuple[torch.Tensor, np.ndarray]:
    """Short side to `short_side`, no crop; landscape frames padded (or cut) to `padded_width` on the right,
    portrait ones likewise at the bottom, so every clip of a dataset has one shape."""
    height, width = frames.shape[1:3]
    clip = normalize(resize_short_side(to_tensor(frames), short_side), mean, std)
    out_height, out_width = clip.shape[-2:]
    pixel_boxes = to_pixels(boxes, out_width, out_height)
    long_side = padded_width(short_side, max_aspect)
    target = (short_side, long_side) if width >= height else (long_side, short_side)
    clip = clip[..., : target[0], : target[1]]
    clip = F.pad(clip, (0, target[1] - clip.shape[-1], 0, target[0] - clip.shape[-2]))
    pixel_boxes = np.clip(pixel_boxes, 0, np.array([target[1], target[0]] * 2, np.float32)).astype(np.float32)
    return clip, pixel_boxes


@dataclass(frozen=True)
class EvalView:
    """Where `eval_transform_with_boxes` puts a window, for the worker's decoder: the source `region` (top, left,
    height, width) resampled to `extent` (height, width) at the top left of a `canvas` (height, width) padded with
    zeros, and the boxes in the canvas' pixels."""

    region: tuple[float, float, float, float]
    extent: tuple[int, int]
    canvas: tuple[int, int]
    boxes: np.ndarray


def eval_view_with_boxes(height: int, width: int, boxes: np.ndarray, *, short_side: int,
                         max_aspect: float) -> EvalView:
    """The test view of a `height x width` window (`eval_transform_with_boxes` without the pixels)."""
    resized_height, resized_width = resized_shape(height, width, short_side)
    long_side = padded_width(short_side, max_aspect)
    canvas = (short_side, long_side) if width >= height else (long_side, short_side)
    extent = (min(resized_height, canvas[0]), min(resized_width, canvas[1]))
    region = (0.0, 0.0, extent[0] * height / resized_height, extent[1] * width / resized_width)
    pixel_boxes = to_pixels(boxes, resized_width, resized_height)
    pixel_boxes = np.clip(pixel_boxes, 0, np.array([canvas[1], canvas[0]] * 2, np.float32)).astype(np.float32)
    return EvalView(region, extent, canvas, pixel_boxes)

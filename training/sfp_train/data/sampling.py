"""Which frames of a stored clip make a training or test view (PySlowFast's `temporal_sampling`).

A view is `num_frames` frames at stride `sampling_rate`, spanning `num_frames * sampling_rate` frames of the clip.
Clips shorter than the window repeat their last frames (indices are clamped), as the reference pads them.
"""

from __future__ import annotations

import numpy as np


def _window(start: float, num_frames: int, sampling_rate: int, num_available: int) -> np.ndarray:
    span = num_frames * sampling_rate
    indices = np.linspace(start, start + span - 1, num_frames)
    return np.clip(np.round(indices), 0, num_available - 1).astype(np.int64)


def train_frame_indices(
    num_available: int, num_frames: int, sampling_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """A random window of the clip (uniform start), `num_frames` indices."""
    span = num_frames * sampling_rate
    start = rng.uniform(0, max(num_available - span, 0))
    return _window(start, num_frames, sampling_rate, num_available)


def view_frame_indices(
    num_available: int, num_frames: int, sampling_rate: int, view: int, num_views: int
) -> np.ndarray:
    """The `view`-th of `num_views` windows spread evenly over the clip (the reference's multi-view testing)."""
    span = num_frames * sampling_rate
    free = max(num_available - span, 0)
    start = free * view / (num_views - 1) if num_views > 1 else free / 2
    return _window(start, num_frames, sampling_rate, num_available)

"""The model as users load it from the registry: one normalised clip in, class probabilities out."""

from __future__ import annotations

import torch
from torch import nn

from sfp_train.models.packing import pathway_inputs


class ClipClassifier(nn.Module):
    """Wraps a SlowFast-family network: `[B, 3, T, H, W]` normalised clips -> `[B, classes]` softmax scores."""

    def __init__(self, model: nn.Module, *, arch: str, alpha: int, classes: list[str], clip_frames: int,
                 sampling_rate: int, crop_size: int, mean: tuple, std: tuple) -> None:
        super().__init__()
        self.model = model
        self.arch, self.alpha, self.classes = arch, alpha, list(classes)
        self.clip_frames, self.sampling_rate, self.crop_size = clip_frames, sampling_rate, crop_size
        self.mean, self.std = tuple(mean), tuple(std)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.model(pathway_inputs(clip, self.arch, self.alpha)).float().softmax(dim=-1)


class ClipDetector(nn.Module):
    """Wraps an AVA detection network: a normalised clip `[B, 3, T, H, W]` and person boxes `[K, 5]`
    (`batch_index, x1, y1, x2, y2` in pixels of the clip) -> `[K, actions]` sigmoid scores.

    `action_ids` / `actions` are the label map's ids and names, in output order; `short_side` and `max_aspect` are
    the test transform (`sfp_train.ava.transforms.test_transform_with_boxes`)."""

    def __init__(self, model: nn.Module, *, arch: str, alpha: int, action_ids: list[int], actions: list[str],
                 clip_frames: int, sampling_rate: int, short_side: int, max_aspect: float, mean: tuple,
                 std: tuple) -> None:
        super().__init__()
        self.model = model
        self.arch, self.alpha = arch, alpha
        self.action_ids, self.actions = list(action_ids), list(actions)
        self.clip_frames, self.sampling_rate = clip_frames, sampling_rate
        self.short_side, self.max_aspect = short_side, max_aspect
        self.mean, self.std = tuple(mean), tuple(std)

    def forward(self, clip: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        return self.model(pathway_inputs(clip, self.arch, self.alpha), boxes).float().sigmoid()

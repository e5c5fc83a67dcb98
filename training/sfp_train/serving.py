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

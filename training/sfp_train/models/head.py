"""Heads: they take the list of per-pathway res5 features and return logits (no softmax / sigmoid).

Classification (Kinetics): per pathway, average over time and over `pool_size x pool_size` spatial windows with
stride 1, where `pool_size` is the res5 size of the training crop (224 / 32 = 7). At the training crop this is global
average pooling; on a larger test crop (256 -> 8 x 8) it slides, and the logits of all positions are averaged, which
is PySlowFast's fully convolutional testing (a linear layer commutes with the average, so we average the pooled
features and project once). On a smaller input the window shrinks to the whole map. Then concat, dropout, linear.

Detection (AVA): per pathway temporal average, concat, RoIAlign 7x7 over boxes given in input pixels
(`[K, 5] = [batch_index, x1, y1, x2, y2]`, scaled by 1/16, the res5 stride of the dilated detection network),
spatial max, dropout, linear.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ClassificationHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, *, pool_size: int = 7, dropout: float = 0.5) -> None:
        super().__init__()
        self.pool_size = pool_size
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.proj = nn.Linear(in_channels, num_classes)

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """`[B, C, T, H, W]` -> `[B, C]`: temporal mean, then the mean over all stride-1 spatial windows."""
        x = features.mean(dim=2)
        height, width = x.shape[-2:]
        window = (min(self.pool_size, height), min(self.pool_size, width))
        if window != (height, width):
            x = F.avg_pool2d(x, kernel_size=window, stride=1)
        return x.mean(dim=(2, 3))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([self.pool(pathway) for pathway in features], dim=1)
        return self.proj(self.dropout(x))


class DetectionHead(nn.Module):
    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        resolution: int = 7,
        spatial_scale: float = 1.0 / 16,
        sampling_ratio: int = 0,
        aligned: bool = True,
        dropout: float = 0.5,
    ) -> None:
        from torchvision.ops import RoIAlign  # here, not at the top: importing torchvision costs seconds in every
        # Ray Data task process that unpickles a loader (they import this package for `pathway_inputs`)

        super().__init__()
        self.roi_align = RoIAlign((resolution, resolution), spatial_scale, sampling_ratio, aligned)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.proj = nn.Linear(in_channels, num_classes)

    def forward(self, features: list[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"boxes must be [K, 5] = [batch_index, x1, y1, x2, y2], got {tuple(boxes.shape)}")
        x = torch.cat([pathway.mean(dim=2) for pathway in features], dim=1)
        x = self.roi_align(x, boxes.to(x.dtype))
        x = x.amax(dim=(2, 3))
        return self.proj(self.dropout(x))


def create_classification_head(
    *,
    in_channels: int,
    num_classes: int = 400,
    crop_size: int = 224,
    spatial_stride: int = 32,
    dropout: float = 0.5,
) -> ClassificationHead:
    return ClassificationHead(in_channels, num_classes, pool_size=max(1, crop_size // spatial_stride), dropout=dropout)


def create_detection_head(
    *,
    in_channels: int,
    num_classes: int = 80,
    spatial_stride: int = 16,
    resolution: int = 7,
    sampling_ratio: int = 0,
    aligned: bool = True,
    dropout: float = 0.5,
) -> DetectionHead:
    return DetectionHead(
        in_channels,
        num_classes,
        resolution=resolution,
        spatial_scale=1.0 / spatial_stride,
        sampling_ratio=sampling_ratio,
        aligned=aligned,
        dropout=dropout,
    )

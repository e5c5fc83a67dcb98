"""The ResNet stem of one pathway: conv T x 7 x 7 (spatial stride 2), BN, ReLU, max-pool 1 x 3 x 3 (stride 1 x 2 x 2).

The Slow pathway uses a temporal kernel of 1 (its frames are far apart), the Fast pathway 5 (paper, Table 1).
"""

from __future__ import annotations

import torch
from torch import nn


class ResNetStem(nn.Module):
    def __init__(self, conv: nn.Conv3d, bn: nn.BatchNorm3d, pool: nn.MaxPool3d) -> None:
        super().__init__()
        self.conv = conv
        self.bn = bn
        self.relu = nn.ReLU(inplace=True)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


def create_stem(
    *,
    in_channels: int = 3,
    out_channels: int = 64,
    temporal_kernel: int = 1,
    spatial_kernel: int = 7,
    spatial_stride: int = 2,
    pool_kernel: int = 3,
    pool_stride: int = 2,
    bn_eps: float = 1e-5,
    bn_momentum: float = 0.1,
) -> ResNetStem:
    """Builds a stem that reduces the spatial size by 4 and keeps the temporal size."""
    conv = nn.Conv3d(
        in_channels,
        out_channels,
        kernel_size=(temporal_kernel, spatial_kernel, spatial_kernel),
        stride=(1, spatial_stride, spatial_stride),
        padding=(temporal_kernel // 2, spatial_kernel // 2, spatial_kernel // 2),
        bias=False,
    )
    bn = nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=bn_momentum)
    pool = nn.MaxPool3d(
        kernel_size=(1, pool_kernel, pool_kernel),
        stride=(1, pool_stride, pool_stride),
        padding=(0, pool_kernel // 2, pool_kernel // 2),
    )
    return ResNetStem(conv, bn, pool)

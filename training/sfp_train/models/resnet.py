"""Residual blocks, stages and one ResNet pathway (stem + res2..res5), as in PySlowFast's `resnet_helper`.

Every depth uses the bottleneck transform (1x1 -> 1x3x3 -> 1x1, inner width = out / 4), as PySlowFast does, so an
R18 here is the shallow stage layout (2, 2, 2, 2) with bottlenecks, not torchvision's basic-block R18. The temporal
kernel of a block sits on its first 1x1 conv (`conv_a`: T x 1 x 1); the spatial stride sits on `conv_b`; there is
no temporal striding anywhere.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from sfp_train.models.stem import create_stem

STAGE_DEPTHS: dict[int, tuple[int, int, int, int]] = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
STAGE_NAMES = ("stem", "res2", "res3", "res4", "res5")


class Shortcut(nn.Module):
    """Projection shortcut: 1x1x1 conv (with the block's spatial stride) and BN."""

    def __init__(self, conv: nn.Conv3d, bn: nn.BatchNorm3d) -> None:
        super().__init__()
        self.conv = conv
        self.bn = bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class BottleneckBlock(nn.Module):
    """relu(shortcut(x) + bn_c(conv_c(relu(bn_b(conv_b(relu(bn_a(conv_a(x))))))))."""

    def __init__(
        self,
        conv_a: nn.Conv3d,
        bn_a: nn.BatchNorm3d,
        conv_b: nn.Conv3d,
        bn_b: nn.BatchNorm3d,
        conv_c: nn.Conv3d,
        bn_c: nn.BatchNorm3d,
        shortcut: Shortcut | None,
    ) -> None:
        super().__init__()
        self.shortcut = shortcut
        self.conv_a = conv_a
        self.bn_a = bn_a
        self.conv_b = conv_b
        self.bn_b = bn_b
        self.conv_c = conv_c
        self.bn_c = bn_c  # the block's last BN: zero-initialised (see init.py)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.relu(self.bn_a(self.conv_a(x)))
        out = self.relu(self.bn_b(self.conv_b(out)))
        out = self.bn_c(self.conv_c(out))
        return self.relu(out + identity)


def create_bottleneck_block(
    *,
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    temporal_kernel: int = 1,
    spatial_stride: int = 1,
    dilation: int = 1,
    bn_eps: float = 1e-5,
    bn_momentum: float = 0.1,
) -> BottleneckBlock:
    def bn(channels: int) -> nn.BatchNorm3d:
        return nn.BatchNorm3d(channels, eps=bn_eps, momentum=bn_momentum)

    conv_a = nn.Conv3d(
        dim_in, dim_inner, kernel_size=(temporal_kernel, 1, 1), padding=(temporal_kernel // 2, 0, 0), bias=False
    )
    conv_b = nn.Conv3d(
        dim_inner,
        dim_inner,
        kernel_size=(1, 3, 3),
        stride=(1, spatial_stride, spatial_stride),
        padding=(0, dilation, dilation),
        dilation=(1, dilation, dilation),
        bias=False,
    )
    conv_c = nn.Conv3d(dim_inner, dim_out, kernel_size=1, bias=False)
    shortcut = None
    if dim_in != dim_out or spatial_stride != 1:
        shortcut = Shortcut(
            nn.Conv3d(dim_in, dim_out, kernel_size=1, stride=(1, spatial_stride, spatial_stride), bias=False),
            bn(dim_out),
        )
    return BottleneckBlock(conv_a, bn(dim_inner), conv_b, bn(dim_inner), conv_c, bn(dim_out), shortcut)


def create_res_stage(
    *,
    num_blocks: int,
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    temporal_kernel: int = 1,
    spatial_stride: int = 2,
    dilation: int = 1,
    bn_eps: float = 1e-5,
    bn_momentum: float = 0.1,
) -> nn.Sequential:
    """A stage of `num_blocks` bottlenecks; only the first one changes width and stride."""
    blocks = [
        create_bottleneck_block(
            dim_in=dim_in if index == 0 else dim_out,
            dim_inner=dim_inner,
            dim_out=dim_out,
            temporal_kernel=temporal_kernel,
            spatial_stride=spatial_stride if index == 0 else 1,
            dilation=dilation,
            bn_eps=bn_eps,
            bn_momentum=bn_momentum,
        )
        for index in range(num_blocks)
    ]
    return nn.Sequential(*blocks)


def stage_out_channels(width: int) -> tuple[int, int, int, int, int]:
    """Output channels of stem, res2, res3, res4, res5 for a pathway whose stem has `width` channels."""
    return (width, width * 4, width * 8, width * 16, width * 32)


def create_pathway(
    *,
    depth: int = 50,
    width: int = 64,
    in_channels: int = 3,
    stem_temporal_kernel: int = 1,
    temporal_kernels: Sequence[int] = (1, 1, 3, 3),
    extra_in_channels: Sequence[int] = (0, 0, 0, 0),
    res5_spatial_stride: int = 2,
    res5_dilation: int = 1,
    bn_eps: float = 1e-5,
    bn_momentum: float = 0.1,
) -> nn.Sequential:
    """One ResNet pathway as an `nn.Sequential` with children named `stem, res2, res3, res4, res5`.

    `extra_in_channels[i]` is added to the input width of stage res{i+2}: the channels that a lateral connection
    concatenates onto this pathway's previous output. `temporal_kernels` are the `conv_a` kernels of res2..res5.
    """
    if depth not in STAGE_DEPTHS:
        raise ValueError(f"depth must be one of {sorted(STAGE_DEPTHS)}, got {depth}")
    if len(temporal_kernels) != 4 or len(extra_in_channels) != 4:
        raise ValueError("temporal_kernels and extra_in_channels need one entry per stage res2..res5")
    out_channels = stage_out_channels(width)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["stem"] = create_stem(
        in_channels=in_channels,
        out_channels=width,
        temporal_kernel=stem_temporal_kernel,
        bn_eps=bn_eps,
        bn_momentum=bn_momentum,
    )
    strides = (1, 2, 2, res5_spatial_stride)
    dilations = (1, 1, 1, res5_dilation)
    for index, num_blocks in enumerate(STAGE_DEPTHS[depth]):
        layers[STAGE_NAMES[index + 1]] = create_res_stage(
            num_blocks=num_blocks,
            dim_in=out_channels[index] + extra_in_channels[index],
            dim_inner=width * 2**index,
            dim_out=out_channels[index + 1],
            temporal_kernel=temporal_kernels[index],
            spatial_stride=strides[index],
            dilation=dilations[index],
            bn_eps=bn_eps,
            bn_momentum=bn_momentum,
        )
    return nn.Sequential(layers)

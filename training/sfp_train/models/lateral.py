"""Lateral connections Fast -> Slow (paper, Sec. 3.4), applied after the stem, res2, res3 and res4.

The Fast features `{alpha*T, S^2, beta*C}` are brought to the Slow pathway's `T` frames by one of three transforms,
then fused into the Slow features by concatenation (default) or summation:

- `time_to_channel`: reshape into `{T, S^2, alpha*beta*C}`, packing each group of alpha frames into channels;
- `time_strided_sample`: keep one frame out of every alpha, `{T, S^2, beta*C}`;
- `time_strided_conv` (default): a `k x 1 x 1` conv with temporal stride alpha and `2*beta*C` output channels,
  then BN and ReLU, as PySlowFast's `FuseFastToSlow`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

LateralKind = Literal["time_strided_conv", "time_to_channel", "time_strided_sample"]
FusionKind = Literal["concat", "sum"]


class TimeStridedConv(nn.Module):
    def __init__(self, conv: nn.Conv3d, bn: nn.BatchNorm3d) -> None:
        super().__init__()
        self.conv = conv
        self.bn = bn
        self.relu = nn.ReLU(inplace=True)

    def forward(self, fast: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(fast)))


class TimeToChannel(nn.Module):
    def __init__(self, alpha: int) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, fast: torch.Tensor) -> torch.Tensor:
        batch, channels, frames, height, width = fast.shape
        if frames % self.alpha:
            raise ValueError(f"time_to_channel needs Fast frames divisible by alpha={self.alpha}, got {frames}")
        grouped = fast.reshape(batch, channels, frames // self.alpha, self.alpha, height, width)
        return grouped.transpose(2, 3).reshape(batch, channels * self.alpha, frames // self.alpha, height, width)


class TimeStridedSample(nn.Module):
    def __init__(self, alpha: int) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, fast: torch.Tensor) -> torch.Tensor:
        return fast[:, :, :: self.alpha]


def lateral_out_channels(
    *,
    kind: LateralKind,
    fast_channels: int,
    slow_channels: int,
    alpha: int,
    fusion: FusionKind = "concat",
    conv_channel_ratio: int = 2,
) -> int:
    """Channels the lateral adds to (concat) or must match in (sum) the Slow features."""
    if kind == "time_strided_conv":
        return slow_channels if fusion == "sum" else fast_channels * conv_channel_ratio
    if kind == "time_to_channel":
        out = fast_channels * alpha
    elif kind == "time_strided_sample":
        out = fast_channels
    else:
        raise ValueError(f"unknown lateral kind {kind!r}")
    if fusion == "sum" and out != slow_channels:
        raise ValueError(
            f"fusion 'sum' with lateral {kind!r} gives {out} channels but the Slow pathway has {slow_channels}"
        )
    return out


def create_lateral(
    *,
    kind: LateralKind = "time_strided_conv",
    fast_channels: int,
    slow_channels: int,
    alpha: int = 4,
    fusion: FusionKind = "concat",
    conv_channel_ratio: int = 2,
    conv_kernel_size: int = 7,
    bn_eps: float = 1e-5,
    bn_momentum: float = 0.1,
) -> nn.Module:
    out_channels = lateral_out_channels(
        kind=kind,
        fast_channels=fast_channels,
        slow_channels=slow_channels,
        alpha=alpha,
        fusion=fusion,
        conv_channel_ratio=conv_channel_ratio,
    )
    if kind == "time_to_channel":
        return TimeToChannel(alpha)
    if kind == "time_strided_sample":
        return TimeStridedSample(alpha)
    conv = nn.Conv3d(
        fast_channels,
        out_channels,
        kernel_size=(conv_kernel_size, 1, 1),
        stride=(alpha, 1, 1),
        padding=(conv_kernel_size // 2, 0, 0),
        bias=False,
    )
    return TimeStridedConv(conv, nn.BatchNorm3d(out_channels, eps=bn_eps, momentum=bn_momentum))


def fuse(slow: torch.Tensor, lateral: torch.Tensor, fusion: FusionKind) -> torch.Tensor:
    if fusion == "concat":
        return torch.cat([slow, lateral], dim=1)
    return slow + lateral

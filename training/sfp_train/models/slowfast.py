"""SlowFast networks (Feichtenhofer et al., "SlowFast Networks for Video Recognition", ICCV 2019, 1812.03982).

Two ResNet pathways see the same clip: the Slow one `T` frames with `C` channels, the Fast one `alpha*T` frames with
`C/beta_inv` channels. After the stem, res2, res3 and res4 a lateral connection carries Fast features into the Slow
pathway. Slow-only and Fast-only baselines are the same network with one pathway and no laterals.

`forward(inputs)` takes one tensor `[B, 3, T_p, H, W]` per pathway (Slow first; see `packing.pathway_inputs`) and
returns logits `[B, num_classes]`; a detection network takes `forward(inputs, boxes)` and returns `[K, num_classes]`.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

from sfp_train.models.head import create_classification_head, create_detection_head
from sfp_train.models.init import init_weights
from sfp_train.models.lateral import FusionKind, LateralKind, create_lateral, fuse, lateral_out_channels
from sfp_train.models.resnet import STAGE_NAMES, create_pathway, stage_out_channels

Task = Literal["classification", "detection"]


class SlowFast(nn.Module):
    """Pathways (`nn.Sequential`s of stem, res2..res5), laterals keyed by the stage they follow, one head."""

    def __init__(
        self,
        pathways: dict[str, nn.Sequential],
        laterals: dict[str, nn.Module],
        head: nn.Module,
        *,
        fusion: FusionKind = "concat",
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if laterals and list(pathways) != ["slow", "fast"]:
            raise ValueError("laterals need exactly the pathways 'slow' and 'fast', in that order")
        self.pathways = nn.ModuleDict(pathways)
        self.laterals = nn.ModuleDict(laterals)
        self.head = head
        self.fusion = fusion
        self.channels_last = channels_last

    def features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """res5 features of each pathway, `[B, C_p, T_p, H/32, W/32]` (H/16 for detection)."""
        if len(inputs) != len(self.pathways):
            names = ", ".join(self.pathways)
            raise ValueError(f"expected {len(self.pathways)} input tensors ({names}), got {len(inputs)}")
        xs = list(inputs)
        if self.channels_last:
            xs = [x.contiguous(memory_format=torch.channels_last_3d) for x in xs]
        for stage in STAGE_NAMES:
            xs = [getattr(pathway, stage)(x) for pathway, x in zip(self.pathways.values(), xs)]
            if stage in self.laterals:
                xs[0] = fuse(xs[0], self.laterals[stage](xs[1]), self.fusion)
        return xs

    def forward(self, inputs: Sequence[torch.Tensor], boxes: torch.Tensor | None = None) -> torch.Tensor:
        features = self.features(inputs)
        if boxes is None:
            return self.head(features)
        return self.head(features, boxes)


def _create_head(
    *,
    task: Task,
    in_channels: int,
    num_classes: int,
    crop_size: int,
    dropout: float,
    roi_resolution: int,
    roi_sampling_ratio: int,
    roi_aligned: bool,
) -> nn.Module:
    if task == "detection":
        return create_detection_head(
            in_channels=in_channels,
            num_classes=num_classes,
            spatial_stride=16,
            resolution=roi_resolution,
            sampling_ratio=roi_sampling_ratio,
            aligned=roi_aligned,
            dropout=dropout,
        )
    if task == "classification":
        return create_classification_head(
            in_channels=in_channels, num_classes=num_classes, crop_size=crop_size, spatial_stride=32, dropout=dropout
        )
    raise ValueError(f"unknown task {task!r}")


def create_slowfast(
    *,
    num_classes: int = 400,
    depth: int = 50,
    width: int = 64,
    alpha: int = 4,
    beta_inv: int = 8,
    lateral: LateralKind = "time_strided_conv",
    fusion: FusionKind = "concat",
    fusion_conv_channel_ratio: int = 2,
    fusion_kernel_size: int = 7,
    slow_stem_temporal_kernel: int = 1,
    fast_stem_temporal_kernel: int = 5,
    slow_temporal_kernels: Sequence[int] = (1, 1, 3, 3),
    fast_temporal_kernels: Sequence[int] = (3, 3, 3, 3),
    task: Task = "classification",
    dropout: float = 0.5,
    crop_size: int = 224,
    roi_resolution: int = 7,
    roi_sampling_ratio: int = 0,
    roi_aligned: bool = True,
    bn_eps: float = 1e-5,
    bn_momentum: float = 0.1,
    channels_last: bool = False,
) -> SlowFast:
    """SlowFast with the paper's defaults (R50, alpha 4, beta 1/8, T-conv laterals 7x1x1 fused by concatenation).

    `width` is the Slow stem's channel count (64 in the paper); the Fast pathway has `width // beta_inv`.
    `task="detection"` builds the AVA variant: res5 without spatial stride and with dilation 2, RoI head.
    """
    if width % beta_inv:
        raise ValueError(f"width {width} must be divisible by beta_inv {beta_inv}")
    detection = task == "detection"
    slow_channels = stage_out_channels(width)
    fast_channels = stage_out_channels(width // beta_inv)
    laterals = {
        stage: create_lateral(
            kind=lateral,
            fast_channels=fast_channels[index],
            slow_channels=slow_channels[index],
            alpha=alpha,
            fusion=fusion,
            conv_channel_ratio=fusion_conv_channel_ratio,
            conv_kernel_size=fusion_kernel_size,
            bn_eps=bn_eps,
            bn_momentum=bn_momentum,
        )
        for index, stage in enumerate(STAGE_NAMES[:4])
    }
    concatenated = [
        lateral_out_channels(
            kind=lateral,
            fast_channels=fast_channels[index],
            slow_channels=slow_channels[index],
            alpha=alpha,
            fusion=fusion,
            conv_channel_ratio=fusion_conv_channel_ratio,
        )
        if fusion == "concat"
        else 0
        for index in range(4)
    ]
    common = dict(
        depth=depth,
        res5_spatial_stride=1 if detection else 2,
        res5_dilation=2 if detection else 1,
        bn_eps=bn_eps,
        bn_momentum=bn_momentum,
    )
    pathways = {
        "slow": create_pathway(
            width=width,
            stem_temporal_kernel=slow_stem_temporal_kernel,
            temporal_kernels=slow_temporal_kernels,
            extra_in_channels=concatenated,
            **common,
        ),
        "fast": create_pathway(
            width=width // beta_inv,
            stem_temporal_kernel=fast_stem_temporal_kernel,
            temporal_kernels=fast_temporal_kernels,
            **common,
        ),
    }
    head = _create_head(
        task=task,
        in_channels=slow_channels[-1] + fast_channels[-1],
        num_classes=num_classes,
        crop_size=crop_size,
        dropout=dropout,
        roi_resolution=roi_resolution,
        roi_sampling_ratio=roi_sampling_ratio,
        roi_aligned=roi_aligned,
    )
    model = SlowFast(pathways, laterals, head, fusion=fusion, channels_last=channels_last)
    init_weights(model)
    return model.to(memory_format=torch.channels_last_3d) if channels_last else model


def create_single_pathway(
    *,
    pathway: Literal["slow", "fast"] = "slow",
    num_classes: int = 400,
    depth: int = 50,
    width: int = 64,
    stem_temporal_kernel: int = 1,
    temporal_kernels: Sequence[int] = (1, 1, 3, 3),
    task: Task = "classification",
    dropout: float = 0.5,
    crop_size: int = 224,
    roi_resolution: int = 7,
    roi_sampling_ratio: int = 0,
    roi_aligned: bool = True,
    bn_eps: float = 1e-5,
    bn_momentum: float = 0.1,
    channels_last: bool = False,
) -> SlowFast:
    """One pathway, no laterals: the paper's Slow-only (defaults) and Fast-only baselines (see presets)."""
    detection = task == "detection"
    body = create_pathway(
        depth=depth,
        width=width,
        stem_temporal_kernel=stem_temporal_kernel,
        temporal_kernels=temporal_kernels,
        res5_spatial_stride=1 if detection else 2,
        res5_dilation=2 if detection else 1,
        bn_eps=bn_eps,
        bn_momentum=bn_momentum,
    )
    head = _create_head(
        task=task,
        in_channels=stage_out_channels(width)[-1],
        num_classes=num_classes,
        crop_size=crop_size,
        dropout=dropout,
        roi_resolution=roi_resolution,
        roi_sampling_ratio=roi_sampling_ratio,
        roi_aligned=roi_aligned,
    )
    model = SlowFast({pathway: body}, {}, head, channels_last=channels_last)
    init_weights(model)
    return model.to(memory_format=torch.channels_last_3d) if channels_last else model


def create_slow_only(
    *, num_classes: int = 400, depth: int = 50, width: int = 64, **kwargs: object
) -> SlowFast:
    """Slow-only baseline: the Slow pathway alone (stem 1x7x7, conv_a temporal kernels 1, 1, 3, 3)."""
    return create_single_pathway(
        pathway="slow",
        num_classes=num_classes,
        depth=depth,
        width=width,
        stem_temporal_kernel=1,
        temporal_kernels=(1, 1, 3, 3),
        **kwargs,
    )


def create_fast_only(
    *, num_classes: int = 400, depth: int = 50, width: int = 8, **kwargs: object
) -> SlowFast:
    """Fast-only baseline: the Fast pathway alone (stem 5x7x7, temporal kernel 3 in every stage, 1/8 the width)."""
    return create_single_pathway(
        pathway="fast",
        num_classes=num_classes,
        depth=depth,
        width=width,
        stem_temporal_kernel=5,
        temporal_kernels=(3, 3, 3, 3),
        **kwargs,
    )

"""The `model:` section of a recipe, and `build_model`, the one place that maps it onto the builders' arguments."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from sfp_train.models.slowfast import create_fast_only, create_slow_only, create_slowfast


class ModelConfig(BaseModel):
    """SlowFast family: defaults are SlowFast R50 8x8 for Kinetics (paper, Table 2).

    Strict as every recipe section (`sfp.config.StrictModel`'s settings, restated so that the model package imports
    nothing of the platform): unknown keys are errors, values are validated, the object is immutable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    arch: Literal["slowfast", "slow_only", "fast_only"] = "slowfast"
    depth: Literal[18, 50, 101] = 50
    width: int = Field(64, gt=0, description="Slow-pathway stem channels (64 in the paper, 8 for a tiny demo)")
    alpha: int = Field(4, ge=1, description="frame-rate ratio Fast / Slow")
    beta_inv: int = Field(8, ge=1, description="channel ratio Slow / Fast")
    fusion_conv_channel_ratio: int = Field(2, ge=1)
    fusion_kernel_size: int = Field(7, ge=1)
    lateral: Literal["time_strided_conv", "time_to_channel", "time_strided_sample"] = "time_strided_conv"
    fusion: Literal["concat", "sum"] = "concat"
    slow_frames: int = Field(8, ge=1, description="frames of the Slow pathway; the clip has slow_frames * alpha")
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    task: Literal["classification", "detection"] = "classification"
    crop_size: int = Field(224, ge=32, description="training crop: sets the head's pooling window")
    roi_aligned: bool = Field(True, description="RoIAlign with the half-pixel offset (detection only)")
    channels_last: bool = False
    compile: bool = False

    @model_validator(mode="after")
    def _check_widths(self) -> ModelConfig:
        if self.arch != "slow_only" and self.width % self.beta_inv:
            raise ValueError(f"width {self.width} is not divisible by beta_inv {self.beta_inv}")
        if self.arch == "slowfast" and self.fusion == "sum":
            if self.lateral == "time_strided_sample" or (
                self.lateral == "time_to_channel" and self.alpha != self.beta_inv
            ):
                raise ValueError(
                    "fusion 'sum' needs a lateral as wide as the Slow pathway: time_strided_conv, or"
                    f" time_to_channel with alpha == beta_inv (got {self.lateral}, alpha {self.alpha})"
                )
        return self

    @property
    def clip_frames(self) -> int:
        """Frames the data pipeline samples per clip, for every arch (see `packing.pathway_inputs`)."""
        return self.slow_frames * self.alpha


RECIPES: dict[str, dict[str, Any]] = {
    "8x8": {"slow_frames": 8, "alpha": 4, "fusion_kernel_size": 7},
    "4x16": {"slow_frames": 4, "alpha": 8, "fusion_kernel_size": 5},
}


def recipe_config(recipe: Literal["8x8", "4x16"], **fields: Any) -> ModelConfig:
    """`ModelConfig` of a paper recipe (`T x tau`: Slow frames x Slow stride), other fields from `fields`."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}")
    return ModelConfig(**{**RECIPES[recipe], **fields})


def build_model(config: ModelConfig, num_classes: int) -> nn.Module:
    """The network described by `config`, initialised; with `config.compile`, compiled in place."""
    common: dict[str, Any] = dict(
        num_classes=num_classes,
        depth=config.depth,
        task=config.task,
        dropout=config.dropout,
        crop_size=config.crop_size,
        roi_aligned=config.roi_aligned,
        channels_last=config.channels_last,
    )
    if config.arch == "slowfast":
        model = create_slowfast(
            width=config.width,
            alpha=config.alpha,
            beta_inv=config.beta_inv,
            lateral=config.lateral,
            fusion=config.fusion,
            fusion_conv_channel_ratio=config.fusion_conv_channel_ratio,
            fusion_kernel_size=config.fusion_kernel_size,
            **common,
        )
    elif config.arch == "slow_only":
        model = create_slow_only(width=config.width, **common)
    else:
        model = create_fast_only(width=config.width // config.beta_inv, **common)
    if config.compile:
        model.compile()  # in place: state-dict keys stay the same
    return model

"""The `model:` section of a recipe, the paper's models (`PRESETS`), and `build_model`, the one place that maps a
section onto the builders' arguments."""

from __future__ import annotations

from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sfp_train.models.slowfast import SlowFast, create_fast_only, create_slow_only, create_slowfast


# The published models, the one source of them: a recipe's `model: {preset: <name>}`, `preset_config`, the builders of
# `presets.py` and the PyTorchVideo import all read this table. Each pins what differs from `ModelConfig`'s defaults
# (the paper's SlowFast R50 8x8: width 64, beta_inv 8, time-strided-conv laterals, concatenation, dropout 0.5, 224 crops).
#
# | preset            | Slow frames x stride | alpha | fusion kernel | params (K400 / AVA head) | GMACs per 256 view |
# |-------------------|----------------------|-------|---------------|--------------------------|--------------------|
# | slowfast_r50_8x8  | 8 x 8 (32 Fast)      | 4     | 7             | 34.57M                   | 65.7               |
# | slowfast_r50_4x16 | 4 x 16               | 8     | 5             | 34.48M                   | 36.1               |
# | slowfast_r101_8x8 | 8 x 8                | 4     | 5             | 62.83M                   | 125.9              |
# | slowfast_r50_ava  | 8 x 8, detection     | 4     | 7             | 33.83M (80 classes)      | 96.9               |
# | slow_only_r50     | 8 x 8                | -     | -             | 32.45M                   | 54.5               |
# | fast_only_r50     | 32 x 2               | -     | -             |                          |                    |
#
# The R101 fusion kernel (5) follows PySlowFast's R101 recipes and PyTorchVideo's `slowfast_r101` checkpoint. The
# counts are pinned by tests/training/models/ (test_fidelity.py, test_cli_model.py).
PRESETS: dict[str, dict[str, Any]] = {
    "slowfast_r50_8x8": {"arch": "slowfast", "depth": 50, "slow_frames": 8, "alpha": 4, "fusion_kernel_size": 7},
    "slowfast_r50_4x16": {"arch": "slowfast", "depth": 50, "slow_frames": 4, "alpha": 8, "fusion_kernel_size": 5},
    "slowfast_r101_8x8": {"arch": "slowfast", "depth": 101, "slow_frames": 8, "alpha": 4, "fusion_kernel_size": 5},
    "slowfast_r50_ava": {
        "arch": "slowfast", "depth": 50, "slow_frames": 8, "alpha": 4, "fusion_kernel_size": 7, "task": "detection"
    },
    "slow_only_r50": {"arch": "slow_only", "depth": 50, "slow_frames": 8, "alpha": 4},
    "fast_only_r50": {"arch": "fast_only", "depth": 50, "slow_frames": 8, "alpha": 4},
}


class ModelConfig(BaseModel):
    """SlowFast family: defaults are SlowFast R50 8x8 for Kinetics (paper, Table 2).

    Strict as every recipe section (`sfp.config.StrictModel`'s settings, restated so that the model package imports
    nothing of the platform): unknown keys are errors, values are validated, the object is immutable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # `preset: <name>` in a section stands for that model's fields in `PRESETS`; the section's other keys override
    # them. It is not a field: a resolved config (what runs and checkpoints carry) has every field and no preset.

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

    @model_validator(mode="before")
    @classmethod
    def _expand_preset(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or "preset" not in data:
            return data
        fields = dict(data)
        name = fields.pop("preset")
        if not isinstance(name, str) or name not in PRESETS:
            raise ValueError(f"preset: unknown model {name!r}; known: {', '.join(PRESETS)}")
        return {**PRESETS[name], **fields}

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


def preset_config(name: str, **fields: Any) -> ModelConfig:
    """`ModelConfig` of the published model `name` (see `PRESETS`), other fields from `fields`."""
    return ModelConfig.model_validate({"preset": name, **fields})


def build_model(config: ModelConfig, num_classes: int) -> SlowFast:
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

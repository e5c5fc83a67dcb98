"""The published models of `config.PRESETS` as builder functions (PyTorchVideo hub style), for notebooks and
benchmarks: `slowfast_r50_8x8(num_classes=400, crop_size=256)`. Keyword arguments are `ModelConfig` fields that
override the preset's."""

from __future__ import annotations

from typing import Any

from sfp_train.models.config import build_model, preset_config
from sfp_train.models.slowfast import SlowFast


def build_preset(name: str, num_classes: int, **overrides: Any) -> SlowFast:
    """The network of preset `name` with `overrides` (`ModelConfig` fields), initialised."""
    return build_model(preset_config(name, **overrides), num_classes)


def slowfast_r50_8x8(*, num_classes: int = 400, **overrides: Any) -> SlowFast:
    return build_preset("slowfast_r50_8x8", num_classes, **overrides)


def slowfast_r50_4x16(*, num_classes: int = 400, **overrides: Any) -> SlowFast:
    return build_preset("slowfast_r50_4x16", num_classes, **overrides)


def slowfast_r101_8x8(*, num_classes: int = 400, **overrides: Any) -> SlowFast:
    return build_preset("slowfast_r101_8x8", num_classes, **overrides)


def slowfast_r50_ava(*, num_classes: int = 80, **overrides: Any) -> SlowFast:
    return build_preset("slowfast_r50_ava", num_classes, **overrides)


def slow_only_r50(*, num_classes: int = 400, **overrides: Any) -> SlowFast:
    return build_preset("slow_only_r50", num_classes, **overrides)


def fast_only_r50(*, num_classes: int = 400, **overrides: Any) -> SlowFast:
    return build_preset("fast_only_r50", num_classes, **overrides)

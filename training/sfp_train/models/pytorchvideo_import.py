"""Import PyTorchVideo SlowFast weights into our `SlowFast`: `pytorchvideo.models.hub.slowfast_r50`,
`slowfast_r101` and `slowfast_r50_detection`, and the model zoo's `.pyth` files in that layout.

Key layout of PyTorchVideo (`model.` prefixed for the detection network):

    blocks.0.multipathway_blocks.{p}.{conv,norm}.*                 -> pathways.{slow,fast}.stem.{conv,bn}.*
    blocks.{i}.multipathway_blocks.{p}.res_blocks.{j}.branch1_{conv,norm}.*
                                                                   -> pathways.*.res{i+1}.{j}.shortcut.{conv,bn}.*
    blocks.{i}.multipathway_blocks.{p}.res_blocks.{j}.branch2.{conv,norm}_{a,b,c}.*
                                                                   -> pathways.*.res{i+1}.{j}.{conv,bn}_{a,b,c}.*
    blocks.{i}.multipathway_fusion.{conv_fast_to_slow,norm}.*     -> laterals.{stem,res2,res3,res4}.{conv,bn}.*
    blocks.6.proj.* / detection_head.proj.*                       -> head.proj.*

PyTorchVideo's detection head uses RoIAlign without the half-pixel offset, so its config gets `roi_aligned=False`;
the classification head's fixed pool (8 x 7 x 7) equals our global pooling at 224 crops.

Weights that do not fit raise `ValueError`; reading and writing files, and the user-facing errors of
`sfp model import`, are `sfp_train.pytorchvideo_weights`.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch

from sfp_train.models.config import PRESETS, ModelConfig, build_model

# PyTorchVideo's hub models as our presets (`config.PRESETS`)
PYTORCHVIDEO_ARCHS: dict[str, dict[str, Any]] = {
    "slowfast_r50": PRESETS["slowfast_r50_8x8"],
    "slowfast_r101": PRESETS["slowfast_r101_8x8"],
    "slowfast_r50_detection": {**PRESETS["slowfast_r50_ava"], "roi_aligned": False},
}

_PATHWAYS = ("slow", "fast")
_STAGES = ("stem", "res2", "res3", "res4", "res5")
_LAYER = {"conv": "conv", "norm": "bn"}
_RULES: list[tuple[re.Pattern[str], Any]] = [
    (
        re.compile(r"blocks\.0\.multipathway_blocks\.([01])\.(conv|norm)\.(\w+)"),
        lambda m: f"pathways.{_PATHWAYS[int(m[1])]}.stem.{_LAYER[m[2]]}.{m[3]}",
    ),
    (
        re.compile(r"blocks\.([1-4])\.multipathway_blocks\.([01])\.res_blocks\.(\d+)\.branch1_(conv|norm)\.(\w+)"),
        lambda m: f"pathways.{_PATHWAYS[int(m[2])]}.{_STAGES[int(m[1])]}.{m[3]}.shortcut.{_LAYER[m[4]]}.{m[5]}",
    ),
    (
        re.compile(
            r"blocks\.([1-4])\.multipathway_blocks\.([01])\.res_blocks\.(\d+)\.branch2\.(conv|norm)_([abc])\.(\w+)"
        ),
        lambda m: f"pathways.{_PATHWAYS[int(m[2])]}.{_STAGES[int(m[1])]}.{m[3]}.{_LAYER[m[4]]}_{m[5]}.{m[6]}",
    ),
    (
        re.compile(r"blocks\.([0-3])\.multipathway_fusion\.(conv_fast_to_slow|norm)\.(\w+)"),
        lambda m: f"laterals.{_STAGES[int(m[1])]}.{'conv' if m[2] == 'conv_fast_to_slow' else 'bn'}.{m[3]}",
    ),
    (re.compile(r"(?:blocks\.\d+|detection_head)\.proj\.(weight|bias)"), lambda m: f"head.proj.{m[1]}"),
]


def _our_key(key: str) -> str | None:
    key = key.removeprefix("model.")
    for pattern, target in _RULES:
        match = pattern.fullmatch(key)
        if match:
            return target(match)
    return None


def _few(keys: list[str], limit: int = 3) -> str:
    more = f" (and {len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def convert_pytorchvideo_state_dict(
    state_dict: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Renames `state_dict` to the keys of `target` (our model's state dict); every key must match one-to-one.

    Raises `ValueError` naming a few keys that have no place in our model, that our model lacks, or whose shapes differ.
    """
    converted: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        ours = _our_key(key)
        if ours is None or ours not in target:
            unknown.append(key)
        else:
            converted[ours] = value
    if unknown:
        raise ValueError(f"{len(unknown)} PyTorchVideo key(s) have no place in the model: {_few(unknown)}")
    missing = [key for key in target if key not in converted]
    if missing:
        raise ValueError(f"{len(missing)} model key(s) missing from the PyTorchVideo state dict: {_few(missing)}")
    mismatched = [
        f"{key} {tuple(converted[key].shape)} vs {tuple(value.shape)}"
        for key, value in target.items()
        if converted[key].shape != value.shape
    ]
    if mismatched:
        raise ValueError(f"{len(mismatched)} weight(s) of the wrong shape (theirs vs ours): {_few(mismatched)}")
    return converted


def pytorchvideo_config(arch: str) -> ModelConfig:
    if arch not in PYTORCHVIDEO_ARCHS:
        raise ValueError(f"unknown PyTorchVideo arch {arch!r}; known: {', '.join(PYTORCHVIDEO_ARCHS)}")
    return ModelConfig(**PYTORCHVIDEO_ARCHS[arch])


def import_pytorchvideo(
    state_dict: Mapping[str, torch.Tensor], arch: str
) -> tuple[ModelConfig, int, dict[str, torch.Tensor]]:
    """(config, num_classes, our state dict) for PyTorchVideo weights of `arch`."""
    config = pytorchvideo_config(arch)
    proj = next((value for key, value in state_dict.items() if key.endswith("proj.weight")), None)
    num_classes = int(proj.shape[0]) if proj is not None else (80 if config.task == "detection" else 400)
    with torch.device("meta"):
        target = build_model(config, num_classes).state_dict()
    return config, num_classes, convert_pytorchvideo_state_dict(state_dict, target)


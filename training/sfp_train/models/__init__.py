"""The SlowFast model family (Feichtenhofer et al. 2019) in plain PyTorch.

    from sfp_train.models import ModelConfig, build_model, pathway_inputs
    model = build_model(ModelConfig(), num_classes=400)          # SlowFast R50 8x8
    model = build_model(preset_config("slowfast_r50_4x16"), 400)  # a published model: see PRESETS
    logits = model(pathway_inputs(clips, "slowfast", alpha=4))    # clips [B, 3, 32, H, W] -> [B, 400]

Builders (`create_slowfast`, `create_slow_only`, ...) take keyword-only arguments with the paper's defaults and
import only torch and torchvision; `ModelConfig` / `build_model` map a recipe's `model:` section onto them. Nothing
here imports the platform (`sfp`).

The counts (`sfp_train.models.summary`) and the preset builders (`sfp_train.models.presets`) are imported from their
modules; importing this package (every Ray Data worker does, for `packing`) does not load them.
"""

from __future__ import annotations

from sfp_train.models.config import PRESETS, ModelConfig, build_model, preset_config
from sfp_train.models.init import init_weights
from sfp_train.models.packing import pack_pathways, pathway_inputs, pathway_shapes, slow_indices
from sfp_train.models.param_groups import param_groups
from sfp_train.models.slowfast import (
    SlowFast,
    create_fast_only,
    create_single_pathway,
    create_slow_only,
    create_slowfast,
)

__all__ = [
    "PRESETS",
    "ModelConfig",
    "SlowFast",
    "build_model",
    "create_fast_only",
    "create_single_pathway",
    "create_slow_only",
    "create_slowfast",
    "init_weights",
    "pack_pathways",
    "param_groups",
    "pathway_inputs",
    "pathway_shapes",
    "preset_config",
    "slow_indices",
]

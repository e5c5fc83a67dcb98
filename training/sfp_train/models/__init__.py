"""The SlowFast model family (Feichtenhofer et al. 2019) in plain PyTorch.

    from sfp_train.models import ModelConfig, build_model, pathway_inputs
    model = build_model(ModelConfig(), num_classes=400)          # SlowFast R50 8x8
    logits = model(pathway_inputs(clips, "slowfast", alpha=4))    # clips [B, 3, 32, H, W] -> [B, 400]

Builders (`create_slowfast`, `create_slow_only`, ...) take keyword-only arguments with the paper's defaults and
import only torch and torchvision; `ModelConfig` / `build_model` map a recipe's `model:` section onto them.
"""

from sfp_train.models.config import RECIPES, ModelConfig, build_model, recipe_config
from sfp_train.models.init import init_weights
from sfp_train.models.packing import pack_pathways, pathway_inputs, pathway_shapes, slow_indices
from sfp_train.models.param_groups import param_groups
from sfp_train.models.presets import (
    fast_only_r50,
    slow_only_r50,
    slowfast_r50_4x16,
    slowfast_r50_8x8,
    slowfast_r50_ava,
    slowfast_r101_8x8,
)
from sfp_train.models.slowfast import (
    SlowFast,
    create_fast_only,
    create_single_pathway,
    create_slow_only,
    create_slowfast,
)
from sfp_train.models.summary import ModelSummary, summarize

__all__ = [
    "RECIPES",
    "ModelConfig",
    "ModelSummary",
    "SlowFast",
    "build_model",
    "create_fast_only",
    "create_single_pathway",
    "create_slow_only",
    "create_slowfast",
    "fast_only_r50",
    "init_weights",
    "pack_pathways",
    "param_groups",
    "pathway_inputs",
    "pathway_shapes",
    "recipe_config",
    "slow_indices",
    "slow_only_r50",
    "slowfast_r101_8x8",
    "slowfast_r50_4x16",
    "slowfast_r50_8x8",
    "slowfast_r50_ava",
    "summarize",
]

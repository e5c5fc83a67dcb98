"""Optimizer parameter groups: no weight decay on BatchNorm parameters and on biases.

PySlowFast (`construct_optimizer`) puts every parameter of a BatchNorm layer in a group with `BN.WEIGHT_DECAY`
(0 in all its recipes), with `ZERO_WD_1D_PARAM` every other 1-D parameter (biases) in a group with weight decay 0,
and the rest in a group with `SOLVER.WEIGHT_DECAY` (1e-4 for Kinetics SlowFast).
"""

from __future__ import annotations

from typing import Any

from torch import nn


def param_groups(
    model: nn.Module, weight_decay: float, *, bn_weight_decay: float = 0.0, zero_wd_1d: bool = True
) -> list[dict[str, Any]]:
    """Returns the groups `decayed` (`weight_decay`), `bn` (`bn_weight_decay`) and `bias` (0), empty ones dropped.

    Each group is `{"name": ..., "params": [...], "weight_decay": ...}`; frozen parameters are left out.
    """
    decayed: list[nn.Parameter] = []
    bn: list[nn.Parameter] = []
    bias: list[nn.Parameter] = []
    for module in model.modules():
        is_bn = isinstance(module, nn.modules.batchnorm._NormBase)
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if is_bn:
                bn.append(param)
            elif zero_wd_1d and (param.ndim <= 1 or name == "bias"):
                bias.append(param)
            else:
                decayed.append(param)
    groups = [
        {"name": "decayed", "params": decayed, "weight_decay": weight_decay},
        {"name": "bn", "params": bn, "weight_decay": bn_weight_decay},
        {"name": "bias", "params": bias, "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]

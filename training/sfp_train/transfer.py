"""Start a model from another's weights: the backbone (pathways and laterals) is copied, the head stays new.

The source is a registered model (`models:/name@alias`), a training checkpoint folder or its `model.pt`, loaded by
`sfp_train.checkpoints.load_network`. Backbones must match exactly: same parameter names and shapes. A different
arch, depth or width is one line that names the first parameter that differs.
"""

from __future__ import annotations

import torch
from torch import nn

from sfp import tracking
from sfp.errors import SfpError
from sfp_train.checkpoints import load_network

HEAD_PREFIX = "head."


def load_source_state(source: str, tracking_config: tracking.TrackingConfig) -> dict[str, torch.Tensor]:
    """The state dict of `source`: a registered or logged model, a checkpoint folder or a `model.pt`."""
    try:
        return load_network(source, tracking_config).state_dict()
    except SfpError as error:
        raise SfpError(f"init.from_model {error}") from None


def transfer_backbone(source_state: dict[str, torch.Tensor], target: nn.Module, *, source: str,
                      target_name: str = "the recipe's model") -> dict[str, torch.Tensor]:
    """`target`'s state dict with every non-head tensor taken from `source_state`; raises `SfpError` when the
    backbones differ (a missing, extra or differently shaped parameter)."""
    target_state = target.state_dict()
    backbone = [key for key in target_state if not key.startswith(HEAD_PREFIX)]
    source_backbone = [key for key in source_state if not key.startswith(HEAD_PREFIX)]
    problem = None
    for key in backbone:
        if key not in source_state:
            problem = f"{target_name} has {key!r}, {source} has not"
        elif tuple(source_state[key].shape) != tuple(target_state[key].shape):
            problem = (f"{key!r} is {list(source_state[key].shape)} in {source} but "
                       f"{list(target_state[key].shape)} in {target_name}")
        if problem:
            break
    extra = sorted(set(source_backbone) - set(backbone))
    if problem is None and extra:
        problem = f"{source} has {extra[0]!r}, {target_name} has not"
    if problem:
        raise SfpError(f"backbones differ (arch, depth or width): {problem}")
    merged = dict(target_state)
    merged.update({key: source_state[key].detach().clone().to(target_state[key].dtype) for key in backbone})
    return merged

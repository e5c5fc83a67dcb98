"""Start a model from another's weights: the backbone (pathways and laterals) is copied, the head stays new.

The source is a registered model (`models:/name@alias`, loaded through `sfp.tracking`), a training checkpoint
folder or its `model.pt`. Backbones must match exactly: same parameter names and shapes. A different arch, depth or
width is one line that names the first parameter that differs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch import nn

from sfp import storage, tracking
from sfp.errors import SfpError
from sfp_train.checkpoints import MODEL_FILE, load_model_file

HEAD_PREFIX = "head."


def load_source_state(source: str, tracking_config: tracking.TrackingConfig) -> dict[str, torch.Tensor]:
    """The state dict of `source`: a registered or logged model, a checkpoint folder or a `model.pt`."""
    if source.startswith(("models:/", "runs:/")):
        tracking.configure(tracking_config)
        try:
            loaded = tracking.load_model(source)
        except Exception as error:  # MLflow raises its own exception types for unknown names and aliases
            raise SfpError(f"init.from_model {source}: cannot load it: {str(error).splitlines()[0][:200]}") from None
        module = getattr(loaded, "model", loaded)  # ClipClassifier / ClipDetector wrap the network
        return module.state_dict()
    uri = source if source.endswith(".pt") else storage.join_uri(source, MODEL_FILE)
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / MODEL_FILE
        try:
            local.write_bytes(storage.read_bytes(uri))
        except Exception:
            raise SfpError(f"init.from_model {source}: no {MODEL_FILE} at {uri}") from None
        model, _, _ = load_model_file(local)
    return model.state_dict()


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

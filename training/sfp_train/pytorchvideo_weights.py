"""`sfp model import --from pytorchvideo`: read a PyTorchVideo state dict file, convert it with
`sfp_train.models.pytorchvideo_import` and write a checkpoint training can start from. Bad inputs are `SfpError`s."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from sfp.errors import SfpError
from sfp_train.models.config import ModelConfig
from sfp_train.models.pytorchvideo_import import import_pytorchvideo


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict saved with `torch.save`, bare or inside a checkpoint's `model_state` (PySlowFast `.pyth`)."""
    path = Path(path)
    if not path.is_file():
        raise SfpError(f"state dict not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is a bad input file
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise SfpError(f"{path}: not a torch state dict (torch.load: {first.split('. ')[0][:160]})") from None
    if isinstance(data, Mapping) and "model_state" in data:
        data = data["model_state"]
    if not isinstance(data, Mapping) or not all(isinstance(value, torch.Tensor) for value in data.values()):
        raise SfpError(f"{path}: expected a mapping of names to tensors")
    return dict(data)


def write_checkpoint(
    path: str | Path, model_state: Mapping[str, torch.Tensor], config: ModelConfig, num_classes: int
) -> Path:
    """Saves `{"model_state", "model_config", "num_classes"}`: enough for training to start from it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model_state": dict(model_state), "model_config": config.model_dump(), "num_classes": num_classes}
    torch.save(payload, path)
    return path


def import_pytorchvideo_file(source: str | Path, arch: str, output: str | Path) -> tuple[Path, ModelConfig, int]:
    """Reads a PyTorchVideo state dict file, converts it and writes our checkpoint to `output`."""
    state_dict = load_state_dict_file(source)
    try:
        config, num_classes, state = import_pytorchvideo(state_dict, arch)
    except ValueError as error:
        raise SfpError(str(error)) from None
    return write_checkpoint(output, state, config, num_classes), config, num_classes

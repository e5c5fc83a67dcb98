"""Checkpoints: what a training checkpoint holds and how it is read back, with or without DeepSpeed.

A checkpoint folder (one per reported epoch, in Ray Train's storage) holds
- `deepspeed/`: the engine's state from every rank (model, optimiser, ZeRO shards), for resuming;
- `model.pt`: rank 0's plain state dict with the model config and class names, for evaluation and registration;
- `train_state.json`: the epoch and optimiser step reached, the number of workers that wrote it, and the resolved
  recipe.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

MODEL_FILE = "model.pt"
STATE_FILE = "train_state.json"


@dataclass
class TrainState:
    epoch: int  # epochs completed
    global_step: int  # optimiser steps completed
    recipe: dict[str, Any]
    mlflow_run_id: str | None = None
    world_size: int | None = None  # workers that wrote the checkpoint (None: written before this was recorded)
    step_in_epoch: int = 0  # optimiser steps completed of epoch `epoch` (a checkpoint within an epoch)


def write_model_file(directory: Path, model: nn.Module, model_config: dict, classes: list[str]) -> None:
    torch.save(
        {"model_state": model.state_dict(), "model_config": model_config, "classes": classes},
        directory / MODEL_FILE,
    )


def write_train_state(directory: Path, state: TrainState) -> None:
    (directory / STATE_FILE).write_text(json.dumps(asdict(state), indent=2))


def read_train_state(directory: Path) -> TrainState:
    return TrainState(**json.loads((directory / STATE_FILE).read_text()))


def load_model_file(path: Path) -> tuple[nn.Module, dict, list[str]]:
    """Rebuild the model from `model.pt` alone: the file carries its own config."""
    from sfp_train.models.config import ModelConfig, build_model

    payload = torch.load(path, map_location="cpu", weights_only=False)
    config = ModelConfig.model_validate(payload["model_config"])
    # imported published checkpoints carry a class count but no names
    classes = payload.get("classes") or [f"class_{index}" for index in range(payload["num_classes"])]
    model = build_model(config.model_copy(update={"compile": False}), num_classes=len(classes))
    model.load_state_dict(payload["model_state"])
    return model, payload["model_config"], classes

"""Checkpoints: what a training checkpoint holds and how it is read back, with or without DeepSpeed.

A checkpoint folder (one per reported epoch, in Ray Train's storage) holds
- `deepspeed/`: the engine's state from every rank (model, optimiser, ZeRO shards), for resuming;
- `model.pt`: rank 0's plain state dict with the model config and class names, for evaluation and registration;
- `train_state.json`: the epoch and optimiser step reached, the number of workers that wrote it, and the resolved
  recipe.

This module writes and reads them (the loop's `save_checkpoint` / `restore` hand it the folder Ray Train gives), and
fetches a model from wherever one is kept: a checkpoint folder or a `model.pt` (local or s3://), or the MLflow
registry (`models:/name@alias`, `runs:/...`).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from sfp import storage, tracking
from sfp.errors import ModelError, SfpError, StorageError

if TYPE_CHECKING:
    from sfp_train.recipe import TrainRecipe
    from sfp_train.serving import ClipClassifier

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


def model_file_uri(source: str) -> str:
    """The `model.pt` of `source`: a checkpoint folder, or the file itself."""
    return source if source.endswith(".pt") else storage.join_uri(source, MODEL_FILE)


def fetch_model_file(source: str, workdir: Path) -> Path:
    """Copy the `model.pt` of `source` (a checkpoint folder or the file, local or s3://) into `workdir`."""
    local = workdir / MODEL_FILE
    local.write_bytes(storage.read_bytes(model_file_uri(source)))
    return local


def load_checkpoint_model(source: str) -> tuple[nn.Module, dict, list[str]]:
    """The model of a checkpoint folder or a `model.pt` (local or s3://), its config and class names."""
    with tempfile.TemporaryDirectory() as folder:
        return load_model_file(fetch_model_file(source, Path(folder)))


def load_network(source: str, tracking_config: tracking.TrackingConfig) -> nn.Module:
    """The network of `source`: a registered or logged model (`models:/`, `runs:/`; the network inside its
    `ClipClassifier` / `ClipDetector`), a checkpoint folder or a `model.pt`. A source that cannot be loaded is one
    `SfpError` line that begins with `source`."""
    if source.startswith(("models:/", "runs:/")):
        tracking.configure(tracking_config)
        try:
            loaded = tracking.load_model(source)
        except Exception as error:  # MLflow raises its own exception types for unknown names and aliases
            raise SfpError(f"{source}: cannot load it: {str(error).splitlines()[0][:200]}") from None
        return getattr(loaded, "model", loaded)
    try:
        model, _, _ = load_checkpoint_model(source)
    except StorageError:
        raise SfpError(f"{source}: no {MODEL_FILE} at {model_file_uri(source)}") from None
    return model


def read_checkpoint_state(checkpoint_uri: str) -> TrainState:
    """The train state of the checkpoint folder `checkpoint_uri` (local or s3://); a `ModelError` line when the
    folder holds none."""
    try:
        text = storage.read_text(storage.join_uri(checkpoint_uri, STATE_FILE))
    except StorageError as error:
        raise ModelError(f"neither models:/, runs:/ nor a training checkpoint folder ({STATE_FILE}: {error})") \
            from None
    return TrainState(**json.loads(text))


def classifier_from_checkpoint(checkpoint_uri: str, recipe: TrainRecipe | None = None
                               ) -> tuple[ClipClassifier, TrainRecipe]:
    """The `ClipClassifier` of a Kinetics checkpoint folder with the test views of `recipe` (default: the recipe the
    checkpoint holds), and that recipe."""
    from sfp_train.recipe import TrainRecipe
    from sfp_train.serving import ClipClassifier

    if recipe is None:
        recipe = TrainRecipe.model_validate(read_checkpoint_state(checkpoint_uri).recipe)
    model, _, classes = load_checkpoint_model(checkpoint_uri)
    classifier = ClipClassifier(model, arch=recipe.model.arch, alpha=recipe.model.alpha, classes=classes,
                                clip_frames=recipe.model.clip_frames, sampling_rate=recipe.data.sampling_rate,
                                crop_size=recipe.data.test_crop_size, mean=recipe.data.mean, std=recipe.data.std)
    return classifier, recipe

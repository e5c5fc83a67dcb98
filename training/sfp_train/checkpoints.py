"""Checkpoints: what a training checkpoint holds and how it is read back, with or without DeepSpeed.

A checkpoint folder (one per reported epoch, or step with `checkpoint.every_n_steps`, in Ray Train's storage) holds
- `deepspeed/`: the engine's state from every rank (model, optimiser, ZeRO shards), for resuming;
- `model.pt`: rank 0's plain state dict with the model config and class names, for evaluation and registration;
- `train_state.json`: the epoch and optimiser step reached (and the step within the epoch), the number of workers
  that wrote it, and the resolved recipe.

This module writes and reads them, reports them to Ray Train from the training loop (`report_checkpoint`, uploaded
while training goes on) and restores the latest (`restore_latest`, `resumed_step` for one written within an epoch),
and fetches a model from wherever one is kept: a checkpoint folder or a `model.pt` (local or s3://), or the MLflow
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
        try:  # a lookup: a local store that is not there is an error, not a new empty store
            tracking.configure_existing(tracking_config)
        except ModelError as error:
            raise SfpError(f"{source}: cannot load it: {error}") from None
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


# --- Ray Train: the training loop's checkpoints ---------------------------------------------------------------


def report_checkpoint(model_engine, recipe, classes: list[str], state: TrainState, metrics: dict) -> None:
    """Every rank writes its DeepSpeed state to local disk; rank 0 adds the plain model and the train state; Ray
    Train uploads the folder on a background thread while training goes on (and deletes it after)."""
    import ray.train

    from sfp_train import engine

    folder = tempfile.mkdtemp(prefix="sfp-ckpt-")
    engine.save_engine_state(model_engine, folder)
    if ray.train.get_context().get_world_rank() == 0:
        module = model_engine.module
        write_model_file(Path(folder), module, recipe.model.model_dump(mode="json"), classes)
        write_train_state(Path(folder), state)
    ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder),
                     checkpoint_upload_mode=ray.train.CheckpointUploadMode.ASYNC)


def restore_latest(model_engine, world_size: int) -> TrainState | None:
    """The latest checkpoint's engine and train state; rank 0 says so when it was written by another number of
    workers (ZeRO stage 0, which elastic recipes require, reloads at any)."""
    import ray.train

    from sfp_train import engine

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        engine.load_engine_state(model_engine, folder)
        state = read_train_state(Path(folder))
    saved = state.world_size
    if ray.train.get_context().get_world_rank() == 0:
        where = f"epoch {state.epoch}" + (f", step {state.step_in_epoch} of it" if state.step_in_epoch else "")
        written = f"; the checkpoint was written by {saved}" if saved is not None and saved != world_size else ""
        print(f"sfp: resuming at {where} (global step {state.global_step}) with {world_size} workers{written}",
              flush=True)
    return state


def resumed_step(state: TrainState, recipe, global_batch: int) -> int:
    """Where in epoch `state.epoch` a resumed run starts: the steps done there, converted from the global batch they
    were taken at (the checkpoint's number of workers) to this run's."""
    if not state.step_in_epoch:
        return 0
    written_at = recipe.batch_at(state.world_size).global_batch if state.world_size else global_batch
    return state.step_in_epoch * written_at // global_batch

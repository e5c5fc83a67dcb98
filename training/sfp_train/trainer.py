"""The driver side of training: plan the epoch, open the MLflow run, launch Ray Train's TorchTrainer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from sfp import storage, tracking
from sfp.config import config_hash, flatten
from sfp.errors import SfpError
from sfp.framestore import FrameStore
from sfp.raycluster import code_version
from sfp_train.data.pipeline import TrainingInputs
from sfp_train.loop import train_loop_per_worker
from sfp_train.recipe import RecipeBase, TrainRecipe


@dataclass
class TrainingResult:
    run_id: str
    checkpoint_uri: str
    metrics: dict
    classes: list[str]


def steps_per_epoch(recipe: RecipeBase, num_train_clips: int) -> int:
    """Optimiser steps per epoch at the recipe's global batch (at most `max_steps_per_epoch`). A run at a number of
    workers whose global batch differs (elastic, non-dividing) takes `recipe.batch_at(workers).steps_per_epoch` of
    it: the same clips per epoch in fewer or more steps. Every count in the range must have one step's clips."""
    steps = num_train_clips // recipe.optim.batch_size
    if steps == 0:
        raise SfpError(
            f"{num_train_clips} training clips is less than one global batch of {recipe.optim.batch_size}; "
            "lower optim.batch_size"
        )
    for world_size in recipe.scaling.world_sizes:
        batch = recipe.batch_at(world_size)
        if batch.accumulation * batch.micro_batch > num_train_clips // world_size:
            raise SfpError(
                f"{num_train_clips} training clips is less than one global batch of {batch.global_batch} at "
                f"{world_size} workers (the nearest to optim.batch_size {recipe.optim.batch_size} there); "
                "lower optim.batch_size or raise scaling.min_workers"
            )
    return min(steps, recipe.max_steps_per_epoch or steps)


def _use_gpu(recipe: RecipeBase) -> bool:
    import ray

    if recipe.scaling.use_gpu == "auto":
        return ray.cluster_resources().get("GPU", 0) >= 1
    return bool(recipe.scaling.use_gpu)


def _num_workers(recipe: RecipeBase) -> int | tuple[int, int]:
    """Ray Train's `num_workers`: a count, or `(min, max)` for an elastic run (it starts with as many as fit)."""
    scaling = recipe.scaling
    return (scaling.min_workers, scaling.num_workers) if scaling.elastic else scaling.num_workers


def lineage_tags(recipe: TrainRecipe, store: FrameStore) -> dict[str, str]:
    return {
        "sfp.framestore.uri": recipe.data.framestore,
        "sfp.framestore.manifest_sha256": hashlib.sha256(store.manifest.to_json().encode()).hexdigest(),
        "sfp.framestore.version": str(store.manifest.version),  # the store version trained on (appends add them)
        "sfp.git_commit": code_version(),
        "sfp.config_hash": config_hash(recipe),
        "sfp.model.arch": recipe.model.arch,
    }


def log_recipe(run_id: str, recipe: RecipeBase) -> None:
    tracking.log_params(run_id, flatten(recipe.model_dump(mode="json")))
    tracking.log_text(run_id, yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False), "config/recipe.yaml")


def fit(recipe: RecipeBase, *, inputs: TrainingInputs, classes: list[str], steps: int, run_id: str, task=None,
        initial_weights=None, feed: str = "dataset") -> TrainingResult:
    """Run `train_loop_per_worker` on Ray Train's TorchTrainer with `inputs` for `recipe`: each worker reads its
    share of the seeded training feed, Ray Train splits the validation dataset.

    `task` (default: classification over `classes`) is what the loop learns; `initial_weights` (an object ref of a
    state dict) replaces the model's initialisation, as fine-tuning needs. `feed="synthetic"` trains every epoch on
    its first batch, kept on the device (`make bench-train`'s model-only ceiling). `steps` are per epoch at the
    recipe's global batch (`steps_per_epoch`); each worker converts them for its number of workers."""
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer

    use_gpu = _use_gpu(recipe)
    storage_fs, storage_path = storage.pyarrow_filesystem(recipe.checkpoint.storage_uri)
    if storage.parse_uri(recipe.checkpoint.storage_uri).is_local:
        Path(storage_path).mkdir(parents=True, exist_ok=True)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "recipe": recipe,  # the validated recipe object (pydantic models pickle): workers validate nothing again
            "classes": classes,
            "train_feed": inputs.train,
            "decoders": {"train": inputs.train_decoder, "val": inputs.val_decoder},
            "steps_per_epoch": steps,
            "mlflow_run_id": run_id,
            "tracking_uri": tracking.resolve_tracking_uri(recipe.tracking),
            "task": task,
            "initial_weights": initial_weights,
            "feed": feed,
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=_num_workers(recipe),
            use_gpu=use_gpu,
            resources_per_worker={"CPU": recipe.scaling.cpus_per_worker, **({"GPU": 1} if use_gpu else {})},
        ),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=ray.train.RunConfig(
            name=recipe.name,
            storage_path=storage_path,
            storage_filesystem=storage_fs,
            failure_config=ray.train.FailureConfig(max_failures=recipe.scaling.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=recipe.checkpoint.keep),
        ),
        datasets={"val": inputs.val},
    )
    try:
        result = trainer.fit()
    except Exception as error:  # the workflow ends the MLflow run FAILED
        raise SfpError(f"training run {recipe.name!r} failed: {str(error).splitlines()[0][:300]}") from error
    if result.checkpoint is None:
        raise SfpError(f"training run {recipe.name!r} ended without a checkpoint")
    checkpoint_uri = result.checkpoint.path
    if storage.parse_uri(recipe.checkpoint.storage_uri).scheme == "s3":
        checkpoint_uri = f"s3://{checkpoint_uri}"
    return TrainingResult(run_id, checkpoint_uri, dict(result.metrics or {}), classes)

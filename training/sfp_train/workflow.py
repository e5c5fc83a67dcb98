"""Kinetics-style pretraining as one workflow: train, evaluate multi-view, log, register, alias."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sfp import tracking
from sfp.framestore import FrameStore
from sfp_train.checkpoints import classifier_from_checkpoint
from sfp_train.evaluate import EvaluationResult, evaluate, plot_confusion
from sfp_train.recipe import TrainRecipe
from sfp_train.serving import ClipClassifier
from sfp_train.trainer import TrainingResult, run_training

PIP_REQUIREMENTS = ["torch", "torchvision", "slowfast-platform"]


@dataclass
class PretrainResult:
    training: TrainingResult
    evaluation: EvaluationResult
    model_uri: str
    model_version: int


def register(run_id: str, classifier: ClipClassifier, recipe: TrainRecipe) -> tuple[str, int]:
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    size = classifier.crop_size
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 3, classifier.clip_frames, size, size), "clip")]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, len(classifier.classes)), "probabilities")]),
    )
    version = tracking.log_and_register_model(
        run_id,
        classifier,
        registered_name=recipe.registry.model_name,
        alias=recipe.registry.alias,
        signature=signature,
        pip_requirements=PIP_REQUIREMENTS,
        metadata={"classes": classifier.classes, "arch": classifier.arch, "recipe": recipe.name},
    )
    return f"models:/{recipe.registry.model_name}@{recipe.registry.alias}", version


def pretrain(recipe: TrainRecipe) -> PretrainResult:
    training = run_training(recipe)
    classifier, _ = classifier_from_checkpoint(training.checkpoint_uri, recipe)
    store = FrameStore.open(recipe.data.framestore)
    evaluation = evaluate(
        classifier.model,
        store,
        recipe.data,
        recipe.data.val_split,
        arch=recipe.model.arch,
        alpha=recipe.model.alpha,
        num_frames=recipe.model.clip_frames,
    )
    tracking.log_metrics(training.run_id, evaluation.metrics("test"), step=recipe.optim.epochs)
    with tempfile.TemporaryDirectory() as folder:
        picture = plot_confusion(evaluation, Path(folder) / "confusion_matrix.png")
        tracking.log_artifact(training.run_id, picture, "evaluation")
    tracking.log_text(
        training.run_id,
        "\n".join(f"{name}\t{accuracy:.4f}" for name, accuracy in evaluation.per_class.items()),
        "evaluation/per_class_accuracy.tsv",
    )
    model_uri, version = register(training.run_id, classifier, recipe)
    tracking.set_tags(training.run_id, {"sfp.checkpoint": training.checkpoint_uri, "sfp.registered_model": model_uri})
    tracking.end_run(training.run_id)
    return PretrainResult(training, evaluation, model_uri, version)

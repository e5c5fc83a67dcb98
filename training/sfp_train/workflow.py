"""One training workflow for every task: plan, open the MLflow run, fit, evaluate, register with signature, alias and
lineage.

`run_workflow(recipe, task)` owns the run's lifecycle; what differs between Kinetics pretraining (`PretrainTask`,
here) and AVA fine-tuning (`sfp_train.ava.finetune.FinetuneTask`) is the `Task`: the data and its steps, the inputs
for training, the final evaluation, and the model to register with its signature. The MLflow run is opened once
(a rerun of the same name resumes it), FINISHED when the model is registered, and FAILED when any step raises.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sfp import tracking
from sfp.framestore import FrameStore
from sfp_train.checkpoints import classifier_from_checkpoint
from sfp_train.data.pipeline import TrainingInputs, training_inputs
from sfp_train.evaluate import EvaluationResult, evaluate, plot_confusion
from sfp_train.recipe import RecipeBase, TrainRecipe
from sfp_train.serving import ClipClassifier
from sfp_train.trainer import TrainingResult, fit, lineage_tags, log_recipe, steps_per_epoch

PIP_REQUIREMENTS = ["torch", "torchvision", "slowfast-platform"]


@dataclass
class TrainingPlan:
    """What a task's data gives before any run: the store trained on, the class names, the optimiser steps per
    epoch, and the run's tags (lineage)."""

    store: FrameStore
    classes: list[str]
    steps: int
    tags: dict[str, str]


@dataclass
class Registration:
    """The model to register (the served wrapper), its MLflow signature and metadata."""

    model: Any
    signature: Any  # mlflow.models.ModelSignature
    metadata: dict[str, Any] = field(default_factory=dict)


class Task(Protocol):
    """What `run_workflow` asks of a task, in the order it asks."""

    def plan(self) -> TrainingPlan:
        """Read the data and count the steps; raise before any run is opened."""

    def before_training(self, run_id: str) -> None:
        """Anything logged to the run before `fit` (AVA's baseline)."""

    def training_inputs(self) -> TrainingInputs:
        """The seeded training feed, the validation dataset and their decoders."""

    def loop_task(self) -> Any | None:
        """What the per-worker loop learns (`sfp_train.tasks`); None: classification over the plan's classes."""

    def initial_weights(self) -> Any | None:
        """An object ref of the state dict the model starts from; None: the model's own initialisation."""

    def trained_model(self, checkpoint_uri: str) -> Any:
        """The served model (`ClipClassifier`, `ClipDetector`) of the final checkpoint."""

    def evaluate(self, model: Any, run_id: str) -> Any:
        """The final evaluation of `model`, logged to the run; returned."""

    def registration(self, model: Any) -> Registration:
        """What to register for `model` and its signature."""


@dataclass
class WorkflowResult:
    training: TrainingResult
    evaluation: Any
    model_uri: str
    model_version: int


def run_workflow(recipe: RecipeBase, task: Task) -> WorkflowResult:
    """Train, evaluate and register `recipe` on the Ray cluster this process is connected to; rerunning the same
    name resumes it."""
    training = train(recipe, task)
    with ending_run(training.run_id):
        return finish(recipe, task, training)


def train(recipe: RecipeBase, task: Task) -> TrainingResult:
    """The workflow's first half: plan, open (or resume) the MLflow run, log the recipe and the dataset's manifest,
    fit. The run stays open for what follows (`finish`), and ends FAILED if any of this raises."""
    import ray

    plan = task.plan()
    run_id = tracking.start_or_resume_run(recipe.tracking, recipe.name, plan.tags)
    try:
        log_recipe(run_id, recipe)
        tracking.log_text(run_id, plan.store.manifest.to_json(), "dataset/_manifest.json")
        task.before_training(run_id)
        weights = task.initial_weights()
        return fit(recipe, inputs=task.training_inputs(), classes=plan.classes, steps=plan.steps, run_id=run_id,
                   task=task.loop_task(), initial_weights=None if weights is None else ray.put(weights))
    except BaseException:
        tracking.end_run(run_id, status="FAILED")
        raise


@contextmanager
def ending_run(run_id: str) -> Iterator[None]:
    """End the MLflow run `run_id` when the block ends: FINISHED, or FAILED when the block raises (then re-raise):
    a failure after `fit` (the evaluation, the registration) leaves no run RUNNING."""
    try:
        yield
    except BaseException:
        tracking.end_run(run_id, status="FAILED")
        raise
    tracking.end_run(run_id)


def finish(recipe: RecipeBase, task: Task, training: TrainingResult) -> WorkflowResult:
    """After `fit`: the final checkpoint's model evaluated, logged and registered; the run tagged with both."""
    model = task.trained_model(training.checkpoint_uri)
    evaluation = task.evaluate(model, training.run_id)
    model_uri, version = register(training.run_id, task.registration(model), recipe)
    tracking.set_tags(training.run_id, {"sfp.checkpoint": training.checkpoint_uri, "sfp.registered_model": model_uri})
    return WorkflowResult(training, evaluation, model_uri, version)


def register(run_id: str, registration: Registration, recipe: RecipeBase) -> tuple[str, int]:
    """Log and register the model of `registration` in the run; the recipe's alias points at the new version."""
    version = tracking.log_and_register_model(
        run_id,
        registration.model,
        registered_name=recipe.registry.model_name,
        alias=recipe.registry.alias,
        signature=registration.signature,
        pip_requirements=PIP_REQUIREMENTS,
        metadata=registration.metadata,
    )
    return f"models:/{recipe.registry.model_name}@{recipe.registry.alias}", version


class PretrainTask:
    """Kinetics-style pretraining: classification over the frame store's classes, multi-view testing on the val
    split (top-1/top-5, the confusion matrix, per-class accuracy), registered as a `ClipClassifier`."""

    def __init__(self, recipe: TrainRecipe) -> None:
        self.recipe = recipe
        self.store: FrameStore | None = None

    def plan(self) -> TrainingPlan:
        recipe = self.recipe
        self.store = store = FrameStore.open(recipe.data.framestore)
        steps = steps_per_epoch(recipe, store.manifest.splits.get(recipe.data.train_split, 0))
        return TrainingPlan(store, store.manifest.classes, steps, lineage_tags(recipe, store))

    def before_training(self, run_id: str) -> None:
        pass

    def training_inputs(self) -> TrainingInputs:
        model = self.recipe.model
        return training_inputs(self.store, self.recipe.data, num_frames=model.clip_frames, arch=model.arch,
                               alpha=model.alpha, seed=self.recipe.seed)

    def loop_task(self) -> None:
        return None

    def initial_weights(self) -> None:
        return None

    def trained_model(self, checkpoint_uri: str) -> ClipClassifier:
        classifier, _ = classifier_from_checkpoint(checkpoint_uri, self.recipe)
        return classifier

    def evaluate(self, model: ClipClassifier, run_id: str) -> EvaluationResult:
        recipe = self.recipe
        store = FrameStore.open(recipe.data.framestore)
        evaluation = evaluate(model.model, store, recipe.data, recipe.data.val_split, arch=recipe.model.arch,
                              alpha=recipe.model.alpha, num_frames=recipe.model.clip_frames)
        tracking.log_metrics(run_id, evaluation.metrics("test"), step=recipe.optim.epochs)
        with tempfile.TemporaryDirectory() as folder:
            picture = plot_confusion(evaluation, Path(folder) / "confusion_matrix.png")
            tracking.log_artifact(run_id, picture, "evaluation")
        per_class = "\n".join(f"{name}\t{accuracy:.4f}" for name, accuracy in evaluation.per_class.items())
        tracking.log_text(run_id, per_class, "evaluation/per_class_accuracy.tsv")
        return evaluation

    def registration(self, model: ClipClassifier) -> Registration:
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        size = model.crop_size
        signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 3, model.clip_frames, size, size), "clip")]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, len(model.classes)), "probabilities")]),
        )
        return Registration(model, signature, {"classes": model.classes, "arch": model.arch,
                                               "recipe": self.recipe.name})


def pretrain(recipe: TrainRecipe) -> WorkflowResult:
    """Kinetics-style pretraining of `recipe`: `run_workflow` with `PretrainTask`."""
    return run_workflow(recipe, PretrainTask(recipe))

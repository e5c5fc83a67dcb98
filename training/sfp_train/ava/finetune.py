"""AVA fine-tuning as a task of the one workflow (`sfp_train.workflow.run_workflow`): transfer the backbone, train
(Ray Train + DeepSpeed), evaluate, log, register.

The same lifecycle, loop, engine, checkpoints and MLflow run as Kinetics pretraining, with the detection task
(`sfp_train.ava.detection`): BCE per action over the boxes of each keyframe, val frame mAP@0.5 per epoch. After
training the model runs on every val keyframe's boxes, the detections are written in the official CSV format and
scored with the official algorithm (`sfp_train.ava.evaluation`); mAP, the per-class AP table and picture, and the
detections go to the run; the model is registered (`ClipDetector`) and the recipe's alias points at it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sfp import tracking
from sfp.framestore import FrameStore
from sfp_train.ava.annotations import Detection, read_annotation_rows, read_exclusions, write_detections
from sfp_train.ava.data import Keyframe, keyframe_dataset, keyframe_decoder, keyframe_feed, val_keyframes, train_keyframes
from sfp_train.ava.detection import DetectionTask, predict_boxes
from sfp_train.ava.evaluation import AvaEvaluation
from sfp_train.ava.labelmap import read_labelmap
from sfp_train.ava.plots import plot_per_class_ap
from sfp_train.ava.recipe import AvaRecipe
from sfp_train.checkpoints import load_checkpoint_model
from sfp_train.data.device_decode import ClipDecoder
from sfp_train.data.pipeline import TrainingInputs
from sfp_train.evaluate import actor_device, scoring_pool
from sfp_train.models.config import build_model
from sfp_train.serving import ClipDetector
from sfp_train.trainer import TrainingResult, lineage_tags, steps_per_epoch
from sfp_train.transfer import load_source_state, transfer_backbone
from sfp_train.workflow import Registration, TrainingPlan, run_workflow


@dataclass
class FinetuneResult:
    training: TrainingResult
    evaluation: AvaEvaluation
    baseline: AvaEvaluation | None  # the initial model (new head), when the recipe asks for it
    detections: list[Detection]
    model_uri: str
    model_version: int


def detection_task(recipe: AvaRecipe) -> DetectionTask:
    labelmap = read_labelmap(recipe.data.labelmap)
    excluded = read_exclusions(recipe.data.exclusions) if recipe.data.exclusions else set()
    return DetectionTask(
        labelmap=[(entry.id, entry.name) for entry in labelmap],
        val_keyframes=val_keyframes(recipe.data, labelmap),
        val_groundtruth=read_annotation_rows(recipe.data.val_annotations),
        excluded=frozenset(excluded),
    )


def initial_model(recipe: AvaRecipe, num_actions: int) -> torch.nn.Module:
    """The recipe's detection model with the backbone of `init.from_model` and a new head (seeded)."""
    torch.manual_seed(recipe.seed)
    model = build_model(recipe.model.model_copy(update={"compile": False}), num_classes=num_actions)
    source = load_source_state(recipe.init.from_model, recipe.tracking)
    model.load_state_dict(transfer_backbone(source, model, source=recipe.init.from_model))
    return model


class BoxScorer:
    """Ray Data actor: the detector on this actor's device; a batch of test keyframes -> every box's action
    probabilities, `{"row_index", "slot", "scores"}` (one row per box)."""

    def __init__(self, model: torch.nn.Module, decoder: ClipDecoder, num_actions: int) -> None:
        self.device = actor_device()
        self.model, self.decoder, self.num_actions = model.to(self.device).eval(), decoder, num_actions

    @torch.no_grad()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        found = predict_boxes(self.model, [self.decoder(batch, self.device)], self.device)
        where = sorted(found)
        scores = np.stack([found[key] for key in where]) if where else np.zeros((0, self.num_actions), np.float32)
        return {"row_index": np.asarray([row for row, _ in where], np.int64),
                "slot": np.asarray([slot for _, slot in where], np.int64), "scores": scores}


def evaluate_model(model: torch.nn.Module, recipe: AvaRecipe, task: DetectionTask, batch_size: int = 8,
                   workers: int | None = None) -> tuple[AvaEvaluation, list[Detection]]:
    """Score every val keyframe's boxes with `model` on the cluster (Ray Data reads the windows, a pool of
    `BoxScorer` actors decodes and scores them on their devices: `scoring_pool`) and evaluate the detections here."""
    store = FrameStore.open(recipe.data.val_store)
    dataset = keyframe_dataset(store, task.val_keyframes, recipe.data, **_loader_args(recipe, task))
    scored = dataset.map_batches(BoxScorer, batch_size=batch_size, **scoring_pool(workers), fn_constructor_kwargs={
        "model": model.cpu(), "decoder": _decoder(recipe, train=False), "num_actions": task.num_outputs})
    scores = {}
    for batch in scored.iter_batches(batch_size=None, batch_format="numpy"):
        scores.update(zip(zip(batch["row_index"].tolist(), batch["slot"].tolist()), batch["scores"]))
    return task.evaluate(scores), task.detections(scores)


def per_class_table(evaluation: AvaEvaluation) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class_id", "name", "ap"])
    for (class_id, ap), name in zip(evaluation.per_class_id.items(), evaluation.per_class):
        writer.writerow([class_id, name, "" if math.isnan(ap) else f"{ap:.6f}"])
    return buffer.getvalue()


def log_evaluation(run_id: str, evaluation: AvaEvaluation, detections: list[Detection], step: int) -> None:
    tracking.log_metrics(run_id, {"test/mAP": evaluation.mAP}, step=step)
    tracking.log_text(run_id, per_class_table(evaluation), "evaluation/per_class_ap.csv")
    as_json = {"mAP": evaluation.mAP, "per_class": {name: (None if math.isnan(ap) else ap)
                                                    for name, ap in evaluation.per_class.items()}}
    tracking.log_text(run_id, json.dumps(as_json, indent=2), "evaluation/per_class_ap.json")
    with tempfile.TemporaryDirectory() as folder:
        picture = plot_per_class_ap(evaluation.per_class, Path(folder) / "per_class_ap.png", mean_ap=evaluation.mAP)
        tracking.log_artifact(run_id, picture, "evaluation")
        write_detections(Path(folder) / "detections.csv", detections)
        tracking.log_artifact(run_id, Path(folder) / "detections.csv", "evaluation")


def detector(model: torch.nn.Module, recipe: AvaRecipe, task: DetectionTask) -> ClipDetector:
    data = recipe.data
    return ClipDetector(model, arch=recipe.model.arch, alpha=recipe.model.alpha,
                        action_ids=[class_id for class_id, _ in task.labelmap],
                        actions=[name for _, name in task.labelmap], clip_frames=recipe.model.clip_frames,
                        sampling_rate=data.sampling_rate, short_side=data.test_short_side,
                        max_aspect=data.test_max_aspect, mean=data.mean, std=data.std)


class FinetuneTask:
    """AVA fine-tuning as a `sfp_train.workflow.Task`: the backbone of `init.from_model` with a new head, the
    detection loss (`DetectionTask`), the official frame mAP@0.5 on every val keyframe's boxes (and, when the recipe
    asks, the initial model's as the baseline), registered as a `ClipDetector`."""

    def __init__(self, recipe: AvaRecipe) -> None:
        self.recipe = recipe
        self.baseline: AvaEvaluation | None = None
        self.detections: list[Detection] = []

    def plan(self) -> TrainingPlan:
        recipe = self.recipe
        self.task = task = detection_task(recipe)
        self.train_table = train_keyframes(recipe.data, read_labelmap(recipe.data.labelmap))
        steps = steps_per_epoch(recipe, len(self.train_table))
        self.model = initial_model(recipe, task.num_outputs)  # fails early, before any run, if the backbones differ
        self.store = store = FrameStore.open(recipe.data.framestore)
        return TrainingPlan(store, [name for _, name in task.labelmap], steps,
                            {**lineage_tags(recipe, store), "sfp.init.from_model": recipe.init.from_model})

    def before_training(self, run_id: str) -> None:
        if self.recipe.baseline:
            self.baseline, _ = evaluate_model(self.model, self.recipe, self.task)
            tracking.log_metrics(run_id, {"baseline/mAP": self.baseline.mAP}, step=0)

    def training_inputs(self) -> TrainingInputs:
        recipe, loaders = self.recipe, _loader_args(self.recipe, self.task)
        val_store = FrameStore.open(recipe.data.val_store)
        return TrainingInputs(keyframe_feed(self.store, self.train_table, recipe.data, seed=recipe.seed, **loaders),
                              keyframe_dataset(val_store, self.task.val_keyframes, recipe.data, **loaders),
                              _decoder(recipe, train=True), _decoder(recipe, train=False))

    def loop_task(self) -> DetectionTask:
        return self.task

    def initial_weights(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def trained_model(self, checkpoint_uri: str) -> ClipDetector:
        trained, _, _ = load_checkpoint_model(checkpoint_uri)
        return detector(trained, self.recipe, self.task)

    def evaluate(self, model: ClipDetector, run_id: str) -> AvaEvaluation:
        evaluation, self.detections = evaluate_model(model.model, self.recipe, self.task)
        log_evaluation(run_id, evaluation, self.detections, step=self.recipe.optim.epochs)
        return evaluation

    def registration(self, model: ClipDetector) -> Registration:
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 3, model.clip_frames, -1, -1), "clip"),
                           TensorSpec(np.dtype(np.float32), (-1, 5), "boxes")]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, len(model.actions)), "scores")]),
        )
        return Registration(model, signature, {
            "task": "detection", "actions": model.actions, "action_ids": model.action_ids, "arch": model.arch,
            "recipe": self.recipe.name, "init": self.recipe.init.from_model})


def finetune(recipe: AvaRecipe) -> FinetuneResult:
    """Fine-tune `recipe` on the Ray cluster this process is connected to (`run_workflow` with `FinetuneTask`);
    rerunning the same name resumes it."""
    task = FinetuneTask(recipe)
    result = run_workflow(recipe, task)
    return FinetuneResult(result.training, result.evaluation, task.baseline, task.detections, result.model_uri,
                          result.model_version)


def _loader_args(recipe: AvaRecipe, task: DetectionTask) -> dict:
    return dict(num_frames=recipe.model.clip_frames, num_actions=task.num_outputs)


def _decoder(recipe: AvaRecipe, *, train: bool):
    return keyframe_decoder(recipe.data, train=train, arch=recipe.model.arch, alpha=recipe.model.alpha)


__all__ = ["FinetuneResult", "FinetuneTask", "Keyframe", "detection_task", "evaluate_model", "finetune",
           "initial_model"]

"""What the training loop learns: the loss of a batch, the metrics it sums, and validation, per task.

The per-worker loop (`loop.py`) is the same for every task; it asks the task object it is handed for
- `recipe(data)`: the validated recipe;
- `num_outputs`: the head's width;
- `train_step(model_engine, batch, device)`: the loss of one micro-batch and the statistics to sum over the epoch
  (tensors on the device: summing them needs no host synchronisation);
- `train_metrics(sums)`: the epoch's train metrics from the sums over all workers;
- `validate(model_engine, shard, decoder, batch_size, device)`: the val metrics (the same on every rank).

`ClassificationTask` (Kinetics): softmax cross-entropy over classes, top-1/top-5. `DetectionTask` (AVA): a binary
cross-entropy per action over the boxes of each keyframe, and frame-level mAP@0.5 on the val keyframes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from sfp_train.data.feed import device_batches
from sfp_train.metrics import topk_correct


def pathway_batch(batch: dict[str, Any], device: torch.device) -> list[torch.Tensor]:
    return [batch[key].to(device, non_blocking=True) for key in sorted(batch) if key.startswith("pathway_")]


def all_reduce(values: list[float | torch.Tensor], device: torch.device) -> list[float]:
    """Sum `values` (numbers, or 0-d tensors on the device) over workers: one collective, one host sync."""
    tensor = torch.stack([torch.as_tensor(value, device=device).to(torch.float64) for value in values])
    dist.all_reduce(tensor)
    return tensor.tolist()


@dataclass
class ClassificationTask:
    classes: list[str]

    @property
    def num_outputs(self) -> int:
        return len(self.classes)

    def recipe(self, data: dict):
        from sfp_train.recipe import TrainRecipe

        return TrainRecipe.model_validate(data)

    def train_step(self, model_engine, batch, device) -> tuple[torch.Tensor, dict[str, torch.Tensor | int]]:
        labels = batch["label"].to(device, non_blocking=True)
        logits = model_engine(pathway_batch(batch, device)).float()  # the loss in fp32, whatever the forward ran in
        loss = F.cross_entropy(logits, labels)
        top1, top5 = topk_correct(logits.detach(), labels)
        return loss, {"loss": loss.detach() * len(labels), "correct1": top1, "correct5": top5, "seen": len(labels)}

    def train_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        seen = max(sums["seen"], 1.0)
        return {"train/epoch_loss": sums["loss"] / seen, "train/top1": sums["correct1"] / seen,
                "train/top5": sums["correct5"] / seen}

    @torch.no_grad()
    def validate(self, model_engine, shard, decoder, batch_size: int, device) -> dict[str, float]:
        """Single-view validation (centre window, centre crop) on this worker's shard, summed over workers."""
        model_engine.eval()
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, correct1, correct5: no per-batch sync
        seen = 0
        for batch in device_batches(shard, batch_size, device, decoder):
            labels = batch["label"].to(device, non_blocking=True)
            logits = model_engine(pathway_batch(batch, device)).float()
            loss = F.cross_entropy(logits, labels, reduction="sum")
            sums += torch.cat([loss.view(1), topk_correct(logits, labels)]).to(torch.float64)
            seen += len(labels)
        loss_sum, correct1, correct5, seen = all_reduce([*sums, seen], device)
        seen = max(seen, 1.0)
        return {"val/loss": loss_sum / seen, "val/top1": correct1 / seen, "val/top5": correct5 / seen}


@dataclass
class DetectionTask:
    """AVA: `labelmap` as `(id, name)` pairs, the val keyframe table and the val ground truth rows (for mAP)."""

    labelmap: list[tuple[int, str]]
    val_keyframes: list  # sfp_train.ava.data.Keyframe
    val_groundtruth: list  # sfp_train.ava.annotations.AvaRow
    excluded: frozenset = frozenset()

    @property
    def num_outputs(self) -> int:
        return len(self.labelmap)

    def recipe(self, data: dict):
        from sfp_train.ava.recipe import AvaRecipe

        return AvaRecipe.model_validate(data)

    def train_step(self, model_engine, batch, device) -> tuple[torch.Tensor, dict[str, torch.Tensor | int]]:
        from sfp_train.ava.data import flatten_boxes

        rois, labels, _ = flatten_boxes(batch, device)
        logits = model_engine(pathway_batch(batch, device), rois).float()
        loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / max(labels.numel(), 1)
        return loss, {"loss": loss.detach() * len(labels), "seen": len(labels)}

    def train_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"train/epoch_loss": sums["loss"] / max(sums["seen"], 1.0), "train/boxes": sums["seen"]}

    @torch.no_grad()
    def validate(self, model_engine, shard, decoder, batch_size: int, device) -> dict[str, float]:
        """Scores of every val box on every worker, gathered; frame mAP@0.5 against the ground truth."""
        model_engine.eval()
        found = predict_boxes(model_engine, device_batches(shard, batch_size, device, decoder), device)
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, found)
        merged = {key: value for part in gathered for key, value in part.items()}
        return {"val/mAP": self.evaluate(merged).mAP}

    def detections(self, scores: dict[tuple[int, int], np.ndarray]) -> list:
        return detections_from_scores(scores, self.val_keyframes, self.labelmap)

    def evaluate(self, scores: dict[tuple[int, int], np.ndarray]):
        from sfp_train.ava.evaluation import evaluate_detections
        from sfp_train.ava.labelmap import LabelEntry

        labelmap = [LabelEntry(class_id, name) for class_id, name in self.labelmap]
        return evaluate_detections(self.val_groundtruth, self.detections(scores), labelmap, excluded=self.excluded)


def predict_boxes(model, batches, device) -> dict[tuple[int, int], np.ndarray]:
    """`(row_index, box position)` -> sigmoid action scores, for every box of every batch."""
    from sfp_train.ava.data import flatten_boxes

    found = {}
    for batch in batches:
        rois, _, where = flatten_boxes(batch, device)
        if not where:
            continue
        scores = model(pathway_batch(batch, device), rois).float().sigmoid().cpu().numpy()
        found.update(zip(where, scores))
    return found


def detections_from_scores(scores: dict[tuple[int, int], np.ndarray], keyframes: list, labelmap: list[tuple[int, str]]) -> list:
    """One `Detection` per (box, action) in keyframe order, as the official CSV lists them."""
    from sfp_train.ava.annotations import Detection

    detections = []
    for (row, slot) in sorted(scores):
        keyframe = keyframes[row]
        for (class_id, _), score in zip(labelmap, scores[(row, slot)]):
            detections.append(Detection(keyframe.video_id, keyframe.keyframe_sec, keyframe.boxes[slot], float(score), class_id))
    return detections

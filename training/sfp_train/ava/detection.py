"""AVA's task for the training loop (`sfp_train.tasks` says what the loop asks of a task): a binary cross-entropy per
action over the person boxes of each keyframe, and frame-level mAP@0.5 on the val keyframes; the box scores of a
model and the detections they make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from sfp_train.data.feed import device_batches
from sfp_train.tasks import pathway_batch


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

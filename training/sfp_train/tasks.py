"""What the training loop learns: the loss of a batch, the metrics it sums, and validation, per task.

The per-worker loop (`loop.py`) is the same for every task; it asks the task object it is handed for
- `num_outputs`: the head's width;
- `train_step(model_engine, batch, device)`: the loss of one micro-batch and the statistics to sum over the epoch
  (tensors on the device: summing them needs no host synchronisation);
- `train_metrics(sums)`: the epoch's train metrics from the sums over all workers;
- `validate(model_engine, shard, decoder, batch_size, device)`: the val metrics (the same on every rank).

`ClassificationTask` (Kinetics): softmax cross-entropy over classes, top-1/top-5. AVA's `DetectionTask` (a binary
cross-entropy per action over the boxes of each keyframe, frame-level mAP@0.5 on the val keyframes) is
`sfp_train.ava.detection`'s; this module imports nothing of `sfp_train.ava`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

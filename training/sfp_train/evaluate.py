"""Multi-view testing, as the reference: every clip as temporal windows x spatial crops, softmax scores averaged."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sfp.framestore import FrameStore
from sfp_train.data.config import DataConfig
from sfp_train.data.pipeline import index_rows, eval_dataset


@dataclass
class EvaluationResult:
    top1: float
    top5: float
    clips: int
    views_per_clip: int
    per_class: dict[str, float]
    confusion: np.ndarray = field(repr=False)
    classes: list[str] = field(repr=False)

    def metrics(self, prefix: str = "test") -> dict[str, float]:
        return {f"{prefix}/top1": self.top1, f"{prefix}/top5": self.top5}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    store: FrameStore,
    data: DataConfig,
    split: str,
    *,
    arch: str,
    alpha: int,
    num_frames: int,
    batch_size: int = 8,
) -> EvaluationResult:
    """`model` returns logits for pathway inputs; views stream from Ray Data; scores are averaged per clip."""
    classes = store.manifest.classes
    labels = np.array([row["label_id"] for row in index_rows(store, split)])
    scores = np.zeros((len(labels), len(classes)), dtype=np.float64)
    model.eval()
    dataset = eval_dataset(store, data, split, num_frames=num_frames, arch=arch, alpha=alpha)
    for batch in dataset.iter_torch_batches(batch_size=batch_size):
        inputs = [batch[key] for key in sorted(batch) if key.startswith("pathway_")]
        probabilities = model(inputs).float().softmax(dim=-1).numpy()
        np.add.at(scores, batch["clip_index"].numpy(), probabilities)
    ranked = np.argsort(-scores, axis=1)
    top1 = float(np.mean(ranked[:, 0] == labels))
    top5 = float(np.mean((ranked[:, : min(5, len(classes))] == labels[:, None]).any(axis=1)))
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (labels, ranked[:, 0]), 1)
    per_class = {
        name: float(confusion[index, index] / confusion[index].sum())
        for index, name in enumerate(classes)
        if confusion[index].sum()
    }
    return EvaluationResult(
        top1=top1,
        top5=top5,
        clips=len(labels),
        views_per_clip=data.test_temporal_views * data.test_spatial_crops,
        per_class=per_class,
        confusion=confusion,
        classes=classes,
    )


def plot_confusion(result: EvaluationResult, path: Path) -> Path:
    """The confusion matrix (rows: true class, columns: predicted) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    size = max(4.0, 0.5 * len(result.classes) + 2)
    figure = Figure(figsize=(size, size))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.imshow(result.confusion, cmap="Blues")
    axes.set_xticks(range(len(result.classes)), result.classes, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(result.classes)), result.classes, fontsize=8)
    for (row, column), count in np.ndenumerate(result.confusion):
        if count:
            axes.text(column, row, str(count), ha="center", va="center", fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"top-1 {result.top1:.3f}, top-5 {result.top5:.3f} ({result.views_per_clip} views/clip)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path

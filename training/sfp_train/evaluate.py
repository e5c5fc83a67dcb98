"""Multi-view testing, as the reference: every clip as temporal windows x spatial crops, softmax scores averaged.

Testing runs on the Ray cluster: Ray Data tasks read each clip once for all of its views (`EvalViewLoader`), and a
pool of scoring actors (`ViewScorer`, one per GPU when the cluster has GPUs) each holds the model on its device,
decodes the views it is handed there and returns their probabilities. Only `[views, classes]` scores come back to
this process, which sums them per clip and computes top-1, top-5, per-class accuracy and the confusion matrix once.
Every view's score depends on that view alone, so the result is the same at any number of actors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sfp.framestore import FrameStore
from sfp_train.data.config import DataConfig
from sfp_train.data.device_decode import ClipDecoder
from sfp_train.data.pipeline import eval_dataset, eval_decoder, index_rows


@dataclass
class EvaluationResult:
    top1: float
    top5: float
    clips: int
    views_per_clip: int
    per_class: dict[str, float]
    confusion: np.ndarray = field(repr=False)
    scores: np.ndarray = field(repr=False)  # [clips, classes]: each clip's probabilities summed over its views
    classes: list[str] = field(repr=False)

    def metrics(self, prefix: str = "test") -> dict[str, float]:
        return {f"{prefix}/top1": self.top1, f"{prefix}/top5": self.top5}


def scoring_pool(workers: int | None) -> dict:
    """`map_batches` arguments for a pool of model actors: one per GPU of the cluster (each holding one), or
    `workers` CPU actors (default 1) on a cluster without GPUs."""
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0))
    count = workers or max(gpus, 1)
    return {"concurrency": count, "num_gpus": 1 if gpus else 0}


def actor_device() -> torch.device:
    """The GPU Ray gave this actor (it sees only that one), else the CPU."""
    return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")


class ViewScorer:
    """Ray Data actor: the model on this actor's device; a batch of views -> `{"clip_index", "probabilities"}`."""

    def __init__(self, model: nn.Module, decoder: ClipDecoder) -> None:
        self.device = actor_device()
        self.model, self.decoder = model.to(self.device).eval(), decoder

    @torch.no_grad()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = self.decoder(batch, self.device)
        logits = self.model([inputs[key] for key in sorted(inputs) if key.startswith("pathway_")])
        return {"clip_index": np.asarray(batch["clip_index"]),
                "probabilities": logits.float().softmax(dim=-1).cpu().numpy()}


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
    workers: int | None = None,
) -> EvaluationResult:
    """`model` returns logits for pathway inputs; its views are scored on the cluster (`scoring_pool(workers)`) and
    averaged per clip here."""
    classes = store.manifest.classes
    labels = np.array([row["label_id"] for row in index_rows(store, split)])
    scores = np.zeros((len(labels), len(classes)), dtype=np.float64)
    views = eval_dataset(store, data, split, num_frames=num_frames)
    scored = views.map_batches(ViewScorer, batch_size=batch_size, **scoring_pool(workers), fn_constructor_kwargs={
        "model": model.cpu(), "decoder": eval_decoder(data, arch=arch, alpha=alpha)})
    for batch in scored.iter_batches(batch_size=None, batch_format="numpy"):
        np.add.at(scores, batch["clip_index"], batch["probabilities"])
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
        scores=scores,
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

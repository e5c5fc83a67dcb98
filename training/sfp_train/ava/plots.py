"""Figures of AVA evaluation results, written as PNG files (e.g. to log as MLflow artifacts)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping


def plot_per_class_ap(
    per_class: Mapping[str, float],
    path: str | Path,
    *,
    mean_ap: float | None = None,
    title: str = "AVA frame AP@0.5 IoU",
) -> Path:
    """Render per-class AP as a horizontal bar chart PNG, classes top to bottom in the mapping's order.

    Classes whose AP is NaN (no ground truth) get no bar and an "n/a" note. Uses the Agg canvas directly, so no
    pyplot state or global backend is touched. Returns the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    names = list(per_class)
    values = [float(per_class[name]) for name in names]
    figure = Figure(figsize=(8.0, 1.2 + 0.28 * max(len(names), 1)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = range(len(names))
    axes.barh(positions, [0.0 if math.isnan(value) else value for value in values], color="tab:blue")
    for position, value in zip(positions, values):
        note = "n/a" if math.isnan(value) else f"{value:.3f}"
        axes.text(0.0 if math.isnan(value) else value, position, f" {note}", va="center", fontsize=8)
    axes.set_yticks(list(positions), names, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0.0, 1.0)
    axes.set_xlabel("average precision")
    if mean_ap is not None and not math.isnan(mean_ap):
        axes.axvline(mean_ap, color="tab:red", linestyle="--", linewidth=1.0)
        title = f"{title} (mAP {mean_ap:.4f})"
    axes.set_title(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path

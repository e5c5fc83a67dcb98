"""The data-quality report of a preprocessing job: one picture of what the sources were like.

Source durations, frame rates and resolutions (as the probe saw them, rotation applied) and stored clips per class.
Drawn with `matplotlib.figure.Figure` on the Agg canvas: no pyplot, no display, no global state.
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Sequence

from matplotlib.figure import Figure

from sfp.framestore import ClipRecord
from sfp_preprocess.summary import SourceStats


def quality_figure(
    sources: Sequence[SourceStats], records: Sequence[ClipRecord], errors_by_stage: dict[str, int]
) -> Figure:
    figure = Figure(figsize=(13, 8.5), layout="constrained")
    (duration_axes, fps_axes), (resolution_axes, class_axes) = figure.subplots(2, 2)
    errors = ", ".join(f"{stage} {count}" for stage, count in sorted(errors_by_stage.items())) or "none"
    figure.suptitle(f"{len(records)} rows stored from {len(sources)} probed videos; errors: {errors}")

    durations = [source.duration_sec for source in sources if source.duration_sec is not None]
    duration_axes.hist(durations or [0.0], bins=40, color="tab:blue")
    median = f", median {statistics.median(durations):.2f} s" if durations else ""
    duration_axes.set(title=f"source duration{median}", xlabel="seconds", ylabel="videos")

    rates = [round(source.fps, 2) for source in sources if source.fps > 0]
    rate_counts = sorted(Counter(rates).items())
    fps_axes.bar([f"{rate:g}" for rate, _ in rate_counts[:25]], [count for _, count in rate_counts[:25]],
                 color="tab:orange")
    fps_axes.set(title="source frame rate", xlabel="frames per second", ylabel="videos")

    sizes = Counter(f"{source.width}x{source.height}" for source in sources).most_common(12)
    resolution_axes.barh([size for size, _ in sizes][::-1], [count for _, count in sizes][::-1], color="tab:green")
    resolution_axes.set(title="source resolution (as displayed), most common", xlabel="videos")

    per_class = Counter(record.label for record in records if record.label is not None).most_common()
    if per_class:
        class_axes.bar(range(len(per_class)), [count for _, count in per_class], color="tab:purple")
        if len(per_class) <= 30:
            class_axes.set_xticks(range(len(per_class)), [name for name, _ in per_class], rotation=60, ha="right",
                                  fontsize=7)
        counts = [count for _, count in per_class]
        class_axes.set(title=f"clips per class ({len(per_class)} classes, min {min(counts)}, max {max(counts)})",
                       ylabel="clips")
    else:
        class_axes.text(0.5, 0.5, "no labels (unlabelled clips or segments of long videos)", ha="center")
        class_axes.set(title="clips per class", xticks=[], yticks=[])
    return figure


def save_quality_report(
    path: str | Path, sources: Sequence[SourceStats], records: Sequence[ClipRecord], errors_by_stage: dict[str, int]
) -> Path:
    figure = quality_figure(sources, records, errors_by_stage)
    figure.savefig(path, format="png", dpi=90)
    return Path(path)

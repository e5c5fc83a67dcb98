"""The paper's pathway ablation (Feichtenhofer et al. 2019, Table 5a): Slow-only, Fast-only and SlowFast trained
with the same budget on the same frame store, compared on held-out top-1 against their cost.

Each architecture is one training run of the ordinary workflow (`workflow.pretrain`: Ray Train + DeepSpeed,
multi-view evaluation, MLflow run, registered model), all in one MLflow experiment and nested under one summary
run that holds the comparison: a table, a bar chart of top-1, GFLOPs and parameters, and one metric per
architecture. The budget is one recipe shared by every run; an architecture may only change the `model:` section.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from sfp import tracking
from sfp.config import validate
from sfp.errors import ConfigError
from sfp_train.models.summary import ModelSummary, summarize_config
from sfp_train.recipe import RegistryConfig, TrainRecipe

PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's own tag: the UI nests the architecture runs under the summary run


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` on top of `base`, mapping by mapping; any other value replaces the base's."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def arch_recipes(train: Mapping[str, Any], arches: Mapping[str, Any], name: str) -> dict[str, TrainRecipe]:
    """One recipe per architecture: `train` (the shared budget) with the architecture's `model:` overrides, run name
    `<name>-<key>` and registered model `<registry.model_name>-<key>`. Anything but `model:` in an architecture's
    overrides is refused: the runs must differ only in the network."""
    if not arches:
        raise ConfigError("ablation: `arches` is empty")
    recipes = {}
    for key, overrides in arches.items():
        overrides = overrides or {}
        if not isinstance(overrides, Mapping) or set(overrides) - {"model"}:
            extra = sorted(set(overrides) - {"model"}) if isinstance(overrides, Mapping) else [key]
            raise ConfigError(f"ablation: arches.{key}.{extra[0]}: only `model:` may differ between architectures")
        registry = dict(train.get("registry") or {})
        registry["model_name"] = f"{registry.get('model_name', RegistryConfig().model_name)}-{key}"
        data = deep_merge(train, {**overrides, "name": f"{name}-{key}", "registry": registry})
        recipes[key] = validate(TrainRecipe, data, source=f"ablation: arches.{key}")
    return recipes


def model_cost(recipe: TrainRecipe, num_classes: int) -> ModelSummary:
    """Parameters and multiply-adds of one test view (`data.test_crop_size`), counted on the meta device."""
    return summarize_config(recipe.model, num_classes, recipe.data.test_crop_size)


@dataclass
class ArchResult:
    key: str
    arch: str
    run_id: str
    model_uri: str
    top1: float
    top5: float
    views_per_clip: int
    params: int
    gflops: float  # multiply-adds per view, in billions: what the paper calls GFLOPs
    seconds: float  # wall time of the run: training, evaluation, logging


@dataclass
class AblationResult:
    run_id: str  # the summary run
    arches: list[ArchResult]
    picture: Path
    chance: float


def table_lines(result: AblationResult) -> list[str]:
    views = result.arches[0].views_per_clip if result.arches else 0
    lines = [f"{'arch':<12}{'top-1':>8}{'top-5':>8}{'GFLOPs/view':>13}{'params':>12}{'wall s':>9}  MLflow run"]
    for arch in result.arches:
        lines.append(f"{arch.key:<12}{arch.top1:8.3f}{arch.top5:8.3f}{arch.gflops:13.4f}{arch.params:12,}"
                     f"{arch.seconds:9.0f}  {arch.run_id}")
    lines.append(f"held-out top-1 over {views} view(s) per clip; chance {result.chance:.3f}; GFLOPs are multiply-adds "
                 "per view, as in the paper")
    return lines


def plot_ablation(arches: list[ArchResult], path: Path, *, chance: float, title: str) -> Path:
    """Three bar charts side by side: held-out top-1 (chance dashed), GFLOPs per view, parameters (M)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 3.6))
    FigureCanvasAgg(figure)
    names = [arch.key for arch in arches]
    colours = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3"][: len(arches)]
    panels = [
        ("held-out top-1", [arch.top1 for arch in arches], "{:.3f}"),
        ("GFLOPs per view", [arch.gflops for arch in arches], "{:.3f}"),
        ("parameters (M)", [arch.params / 1e6 for arch in arches], "{:.3f}"),
    ]
    for index, (label, values, fmt) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        bars = axes.bar(names, values, color=colours)
        for bar, value in zip(bars, values):
            axes.annotate(fmt.format(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom", fontsize=8)
        if index == 0:
            axes.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
            axes.set_ylim(0, 1.05)
            axes.legend(fontsize=8, loc="upper left")
        axes.set_title(label, fontsize=10)
        axes.tick_params(axis="x", labelsize=9)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def run_ablation(recipes: Mapping[str, TrainRecipe], *, name: str, picture: Path) -> AblationResult:
    """Train and evaluate every recipe in turn (Ray must be initialised), nested under one summary run of the first
    recipe's experiment; write the comparison picture to `picture` and log it, with the table, to the summary run."""
    from sfp.framestore import FrameStore
    from sfp_train.workflow import pretrain

    first = next(iter(recipes.values()))
    if any(recipe.tracking != first.tracking for recipe in recipes.values()):
        raise ConfigError("ablation: every architecture must log to the same MLflow experiment")
    classes = FrameStore.open(first.data.framestore).manifest.classes
    parent = tracking.start_or_resume_run(first.tracking, name, {"sfp.ablation.arches": ",".join(recipes)})
    tracking.log_text(parent, "\n".join(f"{key}: {recipe.model.model_dump_json()}" for key, recipe in recipes.items()),
                      "ablation/models.txt")
    arches: list[ArchResult] = []
    try:
        for key, recipe in recipes.items():
            started = time.perf_counter()
            outcome = pretrain(recipe)
            tracking.set_tags(outcome.training.run_id, {PARENT_RUN_TAG: parent, "sfp.ablation": name})
            cost = model_cost(recipe, len(classes))
            evaluation = outcome.evaluation
            arches.append(ArchResult(key, recipe.model.arch, outcome.training.run_id, outcome.model_uri,
                                     evaluation.top1, evaluation.top5, evaluation.views_per_clip, cost.params,
                                     cost.gmacs, time.perf_counter() - started))
            tracking.log_metrics(parent, {f"{key}/test_top1": evaluation.top1, f"{key}/test_top5": evaluation.top5,
                                          f"{key}/gflops": cost.gmacs, f"{key}/params": cost.params,
                                          f"{key}/wall_sec": arches[-1].seconds}, step=0)
    except BaseException:
        tracking.end_run(parent, status="FAILED")
        raise
    picture.parent.mkdir(parents=True, exist_ok=True)
    budget = first.optim
    plot_ablation(arches, picture, chance=1 / len(classes),
                  title=f"{name}: same budget ({budget.epochs} epochs, batch {budget.batch_size}, crop "
                        f"{first.data.crop_size}), {len(classes)} motion classes")
    result = AblationResult(parent, arches, picture, 1 / len(classes))
    tracking.log_artifact(parent, picture, "ablation")
    tracking.log_text(parent, "\n".join(table_lines(result)) + "\n", "ablation/table.txt")
    tracking.end_run(parent)
    return result


def default_name(base: str) -> str:
    """A fresh name per invocation (`<base>-YYYYmmdd-HHMMSS`): rerunning the ablation trains new runs."""
    return f"{base}-{time.strftime('%Y%m%d-%H%M%S')}"

"""The ablation pipeline: the paper's pathway ablation (Slow-only, Fast-only, SlowFast) on the demo's synthetic
motion dataset, with one shared budget, as three MLflow runs under one summary run with a comparison picture.

    config = load_ablation_config("configs/ablation.yaml", ["train.optim.epochs=2"], Path(".sfp/ablation"))
    result = run_ablation(config)  # from `sfp experiment ablation`, a notebook or a job alike
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from sfp.config import StrictModel, apply_overrides, read_yaml, validate
from sfp_app.demo import Say, resolve_sections
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.synth.render import SynthConfig
from sfp_train.ablation import arch_recipes, deep_merge, default_name
from sfp_train.recipe import TrainRecipe

if TYPE_CHECKING:
    from sfp_train.ablation import AblationResult

DEMO_SECTIONS = ("synth", "preprocess", "train")


class AblationYaml(StrictModel):
    """The ablation YAML as written: a demo YAML as its `base` (relative to it), the sections that override it for
    every run, and the architectures (each may change only its `model:` section)."""

    base: str | None = None
    synth: dict[str, Any] | None = None
    preprocess: dict[str, Any] | None = None
    train: dict[str, Any] | None = None
    arches: dict[str, Any] | None = None


class AblationConfig(StrictModel):
    """The ablation, validated: where it works, its summary run's name and picture, the shared dataset and frame
    store, and one training recipe per architecture (the same budget, only the network differs)."""

    workdir: Path
    name: str
    picture: Path
    synth: SynthConfig
    preprocess: PreprocessConfig
    arches: dict[str, TrainRecipe]

    @property
    def dataset_dir(self) -> Path:
        return self.workdir / "dataset"


def load_sections(config: Path, overrides: Sequence[str]) -> dict[str, Any]:
    """The ablation YAML on top of its `base` (a demo YAML, relative to it: its dataset, preprocessing and training
    sections), then the command line's overrides."""
    data = read_yaml(config)
    ablation = validate(AblationYaml, data, source=str(config))
    base = read_yaml(config.parent / ablation.base) if ablation.base else {}
    base = {key: value for key, value in base.items() if key in DEMO_SECTIONS}  # not the demo's later stages (AVA)
    data.pop("base", None)
    return apply_overrides(deep_merge(base, data), overrides)


def load_ablation_config(path: str | Path, overrides: Sequence[str], workdir: Path, name: str | None = None,
                         picture: Path | None = None) -> AblationConfig:
    """An ablation YAML with `key.sub=value` overrides, validated into an `AblationConfig` before any work starts.
    `name` defaults to `<train.name>-<timestamp>`, `picture` to `<workdir>/<name>.png`."""
    workdir = Path(workdir).absolute()
    data = load_sections(Path(path), overrides)
    arches = data.pop("arches", None) or {}
    sections = resolve_sections(data, workdir)  # the demo's locations: dataset/, framestore/, runs/ under workdir
    synth = validate(SynthConfig, sections["synth"], source="synth")
    preprocess = validate(PreprocessConfig, sections["preprocess"], source="preprocess")
    name = name or default_name(sections["train"].get("name", "ablation"))
    recipes = arch_recipes(sections["train"], arches, name)
    picture = Path(picture).absolute() if picture else workdir / f"{name}.png"
    return AblationConfig(workdir=workdir, name=name, picture=picture, synth=synth, preprocess=preprocess,
                          arches=recipes)


def run_ablation(config: AblationConfig, ray_address: str | None = None, say: Say = print) -> AblationResult:
    """Render and preprocess the dataset (reused when there), train every architecture, log the comparison; each
    step and the results as lines handed to `say`. Ray joins `ray_address` (default: RAY_ADDRESS, else local)."""
    from sfp import tracking
    from sfp.raycluster import init_ray
    from sfp_preprocess.job import run_preprocess
    from sfp_preprocess.synth.render import render_dataset
    from sfp_train.ablation import run_ablation as train_arches
    from sfp_train.ablation import table_lines

    started = time.perf_counter()
    recipes = config.arches
    say("[1/3] rendering the synthetic motion dataset (reused when already there)")
    render_dataset(config.synth, config.dataset_dir)
    say("[2/3] preprocessing into a frame store (Ray Data; reused when already there)")
    init_ray(ray_address)
    summary = run_preprocess(config.preprocess)
    say("      " + "\n      ".join(summary.lines()))
    say(f"[3/3] training {', '.join(recipes)} with the same budget (Ray Train + DeepSpeed), evaluating, logging")
    result = train_arches(recipes, name=config.name, picture=config.picture)

    first = next(iter(recipes.values()))
    say("")
    say(f"Ablation {config.name} finished in {time.perf_counter() - started:.0f} s")
    for line in table_lines(result):
        say("  " + line)
    say(f"  picture     : {result.picture}")
    say(f"  MLflow store: {tracking.resolve_tracking_uri(first.tracking)} (experiment {first.tracking.experiment!r}, "
        f"summary run {result.run_id})")
    say(f"  {tracking.key_metrics_line(first.tracking)}")
    return result

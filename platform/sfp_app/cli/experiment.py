"""`sfp experiment ablation`: the paper's pathway ablation (Slow-only, Fast-only, SlowFast) on the demo's synthetic
motion dataset, with one shared budget, as three MLflow runs under one summary run with a comparison picture."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sfp_app.cli.common import add_overrides, add_ray_address

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "ablation.yaml"
DEMO_SECTIONS = ("synth", "preprocess", "train")
SECTIONS = ("base", *DEMO_SECTIONS, "arches")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("experiment", help="reproducible experiments on the synthetic dataset")
    experiments = parser.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    ablation = experiments.add_parser(
        "ablation",
        help="Slow-only vs Fast-only vs SlowFast, same budget: top-1 against GFLOPs and parameters",
        description="Renders and preprocesses the demo's dataset (reused when there), trains each architecture with "
        "the same recipe, logs the runs to one MLflow experiment under a summary run with the comparison picture.",
    )
    ablation.add_argument("--config", default=str(DEFAULT_CONFIG),
                          help="ablation YAML (base:, synth:, preprocess:, train:, arches:)")
    ablation.add_argument("--workdir", default=".sfp/ablation", help="where the dataset, frame store and runs go")
    ablation.add_argument("--name", default=None, help="summary run name (default: <train.name>-<timestamp>)")
    ablation.add_argument("--picture", default=None, help="where the comparison PNG goes (default: in --workdir)")
    add_ray_address(ablation)
    add_overrides(ablation)
    ablation.set_defaults(handler=run_ablation_command)


def load_sections(config: Path, overrides: list[str]) -> dict:
    """The ablation YAML on top of its `base` (a demo YAML, relative to it: its dataset, preprocessing and training
    sections), then the command line's overrides."""
    from sfp.config import apply_overrides, read_yaml
    from sfp.errors import ConfigError
    from sfp_train.ablation import deep_merge

    data = read_yaml(config)
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"{config}: {sorted(unknown)[0]}: unknown key")
    base = read_yaml(config.parent / data.pop("base")) if data.get("base") else {}
    base = {key: value for key, value in base.items() if key in DEMO_SECTIONS}  # not the demo's later stages (AVA)
    return apply_overrides(deep_merge(base, data), overrides)


def run_ablation_command(args: argparse.Namespace) -> int:
    from sfp import tracking
    from sfp_app.cli.demo import resolve_sections
    from sfp.config import validate
    from sfp.raycluster import init_ray
    from sfp_preprocess.config import PreprocessConfig
    from sfp_preprocess.job import run_preprocess
    from sfp_preprocess.synth.render import SynthConfig, render_dataset
    from sfp_train.ablation import arch_recipes, default_name, run_ablation, table_lines

    started = time.perf_counter()
    workdir = Path(args.workdir).absolute()
    data = load_sections(Path(args.config), args.overrides)
    arches = data.pop("arches", None) or {}
    sections = resolve_sections(data, workdir)  # the demo's locations: dataset/, framestore/, runs/ under workdir
    # the preprocessing run goes to the training runs' store unless its section names one
    train_store = {key: value for key, value in (sections["train"].get("tracking") or {}).items()
                   if key in ("uri", "local_dir")}
    sections["preprocess"]["tracking"] = {**train_store, **(sections["preprocess"].get("tracking") or {})}
    synth = validate(SynthConfig, sections["synth"], source="synth")
    preprocess = validate(PreprocessConfig, sections["preprocess"], source="preprocess")
    name = args.name or default_name(sections["train"].get("name", "ablation"))
    recipes = arch_recipes(sections["train"], arches, name)  # validated before any work starts

    print("[1/3] rendering the synthetic motion dataset (reused when already there)")
    render_dataset(synth, workdir / "dataset")
    print("[2/3] preprocessing into a frame store (Ray Data; reused when already there)")
    init_ray(args.ray_address)
    summary = run_preprocess(preprocess)
    print("      " + "\n      ".join(summary.lines()))
    print(f"[3/3] training {', '.join(recipes)} with the same budget (Ray Train + DeepSpeed), evaluating, logging")
    picture = Path(args.picture).absolute() if args.picture else workdir / f"{name}.png"
    result = run_ablation(recipes, name=name, picture=picture)

    first = next(iter(recipes.values()))
    print()
    print(f"Ablation {name} finished in {time.perf_counter() - started:.0f} s")
    for line in table_lines(result):
        print("  " + line)
    print(f"  picture     : {result.picture}")
    print(f"  MLflow store: {tracking.resolve_tracking_uri(first.tracking)} (experiment {first.tracking.experiment!r}, "
          f"summary run {result.run_id})")
    print("  browse runs: make mlflow-ui")
    return 0

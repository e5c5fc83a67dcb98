"""`sfp experiment ablation`: the paper's pathway ablation (Slow-only, Fast-only, SlowFast) on the demo's synthetic
motion dataset; the pipeline is `sfp_app.ablation.run_ablation`."""

from __future__ import annotations

import argparse
from pathlib import Path

from sfp_app.cli.common import add_overrides, add_ray_address

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "ablation.yaml"


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


def run_ablation_command(args: argparse.Namespace) -> int:
    from sfp_app.ablation import load_ablation_config, run_ablation

    config = load_ablation_config(args.config, args.overrides, Path(args.workdir), name=args.name,
                                  picture=Path(args.picture) if args.picture else None)  # fails before any work
    run_ablation(config, ray_address=args.ray_address, say=print)
    return 0

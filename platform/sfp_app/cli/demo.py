"""`sfp demo`: the whole platform end to end on a synthetic dataset; the pipeline is `sfp_app.demo.run_demo`."""

from __future__ import annotations

import argparse
from pathlib import Path

from sfp_app.cli.common import add_overrides

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "demo.yaml"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole platform end to end on a synthetic dataset")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="demo YAML (synth:, preprocess:, train:, ava:)")
    parser.add_argument("--workdir", default=".sfp/demo", help="where the dataset, frame store and runs go")
    add_overrides(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sfp_app.demo import load_demo_config, run_demo

    config = load_demo_config(args.config, args.overrides, Path(args.workdir))  # fails before any work
    run_demo(config, say=print)
    return 0

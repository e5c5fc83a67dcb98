"""Entry point of the `sfp` console script.

Each command group lives in its own module under `sfp.cli` and exposes `register(subparsers)`; heavy imports
(torch, ray, mlflow) happen inside the command handlers so that `sfp --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sfp.errors import SfpError

COMMAND_MODULES = (
    "sfp.cli.datasets",
    "sfp.cli.preprocess",
    "sfp.cli.framestore",
    "sfp.cli.train",
    "sfp.cli.finetune_ava",
    "sfp.cli.predict",
    "sfp.cli.evaluate",
    "sfp.cli.model",
    "sfp.cli.ava",
    "sfp.cli.demo",
    "sfp.cli.experiment",
    "sfp.cli.stack",
    "sfp.cli.jobs",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sfp", description="SlowFast platform: preprocess videos, train and evaluate SlowFast models."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue  # command group not present in this build
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except SfpError as error:
        print(f"sfp: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sfp: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

"""Helpers shared by the command modules: overrides, JSON output, Ray start-up."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_recipe(parser: argparse.ArgumentParser, where: str) -> None:
    """The recipe YAML, positionally or as `--config` (which Ray job entrypoints and scripts find easier to write)."""
    parser.add_argument("recipe", nargs="?", help=f"recipe YAML ({where})")
    parser.add_argument("--config", dest="config_path", help="the recipe YAML, as a flag (same as the positional)")


def recipe_path(args: argparse.Namespace) -> str:
    from sfp.errors import ConfigError

    if bool(args.recipe) == bool(args.config_path):
        raise ConfigError("give the recipe YAML once: positionally or with --config")
    return args.recipe or args.config_path


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override a config value")


def add_ray_address(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray-address", default=None, help="Ray cluster to join (default: RAY_ADDRESS, else a local cluster)"
    )


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")

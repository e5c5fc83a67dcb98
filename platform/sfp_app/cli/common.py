"""Helpers shared by the command modules: overrides, JSON output, Ray start-up, positionals that begin with a dash,
loading a logged model."""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator


class PositionalDashParser(argparse.ArgumentParser):
    """An argument parser that takes a value starting with '-' as a positional unless it is one of its options.

    Clip ids begin with a YouTube id, and those may begin with '-' (`-LZs5myI0JV_000240_000242`); argparse would take
    such an id for an option, or worse, `-oXYZ...` for `-o XYZ...`. Options are matched exactly (`--frames=4` too;
    no abbreviations, no value glued to a short option), and `--` still ends the options.
    """

    def _parse_optional(self, arg_string: str):
        if arg_string.startswith("-") and arg_string.partition("=")[0] not in self._option_string_actions:
            return None
        return super()._parse_optional(arg_string)


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


def load_model(uri: str, tracking_uri: str) -> Any:
    """The model logged at `uri` (`models:/name@alias`, `models:/name/version`, `runs:/id/path`) in the configured
    store, or one `ModelError` line saying what is missing and where."""
    from mlflow.exceptions import MlflowException

    from sfp import tracking
    from sfp.errors import ModelError

    try:
        with _download_bars_on_terminals_only():
            return tracking.load_model(uri)
    except (MlflowException, OSError) as error:
        reason = (str(getattr(error, "message", "") or error).strip().splitlines() or [type(error).__name__])[0]
        raise ModelError(
            f"{reason.rstrip('.')} ({uri} in {tracking_uri}; `sfp model list` shows the registered models)"
        ) from None


@contextmanager
def _download_bars_on_terminals_only() -> Iterator[None]:
    """MLflow draws a progress bar per artifact download on stderr: on a terminal it helps, in a log or a pipe it is
    a screenful of carriage returns around the one line that matters."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(name)
    if before is None and not sys.stderr.isatty():
        os.environ[name] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)

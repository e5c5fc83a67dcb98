"""Helpers shared by the command modules: the parser (options before or after positionals), overrides, JSON output,
Ray start-up, positionals that begin with a dash, loading a logged model."""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator


class _Refused(Exception):
    """An intermixed parse that argparse refused: parsed again the plain way, for argparse's own message."""


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose commands take their options anywhere among their positionals.

    `sfp train RECIPE --dry-run a=b`: plain argparse ends the overrides (`nargs="*"`) at the first option and refuses
    `a=b`; a command's own arguments are parsed as `parse_intermixed_args` does (options first, then the positionals).
    A command line it refuses is parsed again the plain way, so the error names what plain argparse names (every
    missing argument, not only the options). A parser with subcommands, or with a positional that takes the rest
    verbatim (`sfp jobs submit -- ARGS`), parses as argparse always does. Subparsers are of the same class.
    """

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._intermixing or not self._intermixable():
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # parse_known_intermixed_args calls parse_known_args twice itself
        try:
            attempt = None if namespace is None else argparse.Namespace(**vars(namespace))
            return self.parse_known_intermixed_args(args, attempt)
        except _Refused:
            pass
        finally:
            self._intermixing = False
        return super().parse_known_args(args, namespace)

    def error(self, message: str):  # type: ignore[override]
        """A command line argparse refuses is one line, as every other user mistake: `sfp: error: <what> (<where>)`,
        exit 2 (argparse's own form is the usage, then the message)."""
        if self._intermixing:
            raise _Refused(message)
        self.exit(2, f"sfp: error: {message} (usage: {self.prog} --help)\n")

    def _intermixable(self) -> bool:
        positionals = self._get_positional_actions()
        grouped = {action for group in self._mutually_exclusive_groups for action in group._group_actions}
        return all(action.nargs not in (argparse.PARSER, argparse.REMAINDER) and action not in grouped
                   for action in positionals)


class PositionalDashParser(CommandParser):
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

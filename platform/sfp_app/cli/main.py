"""Entry point of the `sfp` console script.

Each command group lives in its own module under `sfp_app.cli` and exposes `register(subparsers)`; heavy imports
(torch, ray, mlflow) happen inside the command handlers so that `sfp --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType

from sfp import console
from sfp.errors import SfpError
from sfp_app.cli import (ava, config, datasets, demo, evaluate, experiment, finetune_ava, framestore, jobs, model,
                         predict, preprocess, stack, train)
from sfp_app.cli.common import CommandParser

PACKAGE = "slowfast-platform"
SIGPIPE_EXIT = 128 + 13  # what a shell reports for a tool that a closed pipe stopped (`yes | head -1`)

COMMANDS: tuple[ModuleType, ...] = (config, datasets, preprocess, framestore, train, finetune_ava, predict, evaluate,
                                    model, ava, demo, experiment, stack, jobs)  # in `sfp --help` order


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="sfp", description="SlowFast platform: preprocess videos, train and evaluate SlowFast models."
    )
    parser.add_argument("--version", action="version", version=f"sfp {package_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(subparsers)
    add_verbose(parser)
    return parser


VERBOSE_HELP = "also show Ray's worker lines, library logs and warnings here (they always go to the log file)"


def add_verbose(parser: argparse.ArgumentParser, top: bool = True) -> None:
    """`--verbose` before or after the command (`sfp --verbose train ...`, `sfp train ... --verbose`), at any level."""
    if "--verbose" not in parser._option_string_actions:
        parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP,
                            **({} if top else {"default": argparse.SUPPRESS}))
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                add_verbose(child, top=False)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:  # run from a source tree (a Ray job's working directory) without installing
        return f"(source tree, {PACKAGE} not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console.set_verbose(args.verbose, command=args.command)
    try:
        result = args.handler(args)
        sys.stdout.flush()  # a reader that went away shows here, not as a traceback at interpreter exit
    except SfpError as error:
        print(f"sfp: error: {with_original_reason(error)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `sfp framestore ls URI | head`: the reader has what it wanted; stop quietly as other Unix tools do
        _discard_stdout()
        # leave at once: finalising the interpreter after a broken pipe sometimes aborts in a native library's
        # thread ("terminate called without an active exception"), noise where there should be none
        sys.stderr.flush()
        os._exit(SIGPIPE_EXIT)
    except KeyboardInterrupt:
        print("sfp: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # an error that crossed Ray: its original reason, not Ray's wrapper and traceback
        from sfp.raycluster import is_ray_error, original_reason

        if console.verbose() or not is_ray_error(error):
            raise
        print(f"sfp: error: {original_reason(error)}{log_hint()}", file=sys.stderr)
        return 2
    finally:
        console.release()  # the capture lasts as long as the command (main() also runs inside tests and scripts)
    return int(result or 0)


def with_original_reason(error: SfpError) -> str:
    """A platform error raised over a Ray error (`training run 'x' failed: Training failed due to worker errors:`)
    also says what the workers raised, and where the log is."""
    from sfp.raycluster import is_ray_error, original_reason

    cause = error.__cause__
    if cause is None or not is_ray_error(cause):
        return str(error)
    reason = original_reason(cause)
    message = str(error) if reason in str(error) else f"{str(error).rstrip(': ')}: {reason}"
    return message + log_hint()


def log_hint() -> str:
    path = console.log_path()
    return f" (log: {path})" if path is not None else ""


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of what is still buffered fails no more."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file descriptor (captured in-process): nothing is flushed to a pipe
        pass


if __name__ == "__main__":
    sys.exit(main())

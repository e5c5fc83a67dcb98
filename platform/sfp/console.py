"""What a command prints: the platform's own lines by default, everything else in a log file whose path is printed.

By default (quiet) the terminal shows the platform's output only: its summaries, progress and `sfp: ...` lines.
Ray's per-worker log lines, Ray's and Ray Data's own log records and Python warnings (libraries' deprecation
warnings among them) go to one log file per command, `$SFP_HOME/logs/<command>-<time>-<pid>.log`, whose path the
command prints when it starts Ray. `--verbose` (`set_verbose(True)`) shows them on the terminal as well; they still go
to the file. A worker's line that begins with `sfp: ` (the training loop's resume and elastic-batch notes) is the
platform's and always shows, without Ray's `(RayTrainWorker pid=...)` prefix; `sfp-progress: ` lines are the
training progress (`sfp.progress`), drawn by the driver's display and never printed raw.

Nothing here runs at import time: `capture_ray_output` is called by `sfp.raycluster.init_ray`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable

PLATFORM_PREFIX = "sfp: "
PROGRESS_PREFIX = "sfp-progress: "
RAY_PRINT_HANDLER = "ray_print_logs"  # the name Ray's driver gives its worker-line printer
SFP_HANDLER = "sfp_worker_lines"
LOG_HANDLER = "sfp-log-file"
NOISY_LOGGERS = ("ray", "ray.data", "ray.train", "ray.tune", "py.warnings", "deepspeed", "torch", "mlflow",
                 "alembic", "urllib3", "filelock", "fsspec")
MLFLOW_LOGGERS = ("mlflow", "sqlalchemy.engine", "alembic", "huey")  # whose handlers MLflow's import replaces

_state: dict[str, Any] = {"active": False, "verbose": False, "log": None, "path": None, "command": "sfp"}
_lock = threading.Lock()


def set_verbose(verbose: bool, command: str = "sfp") -> None:
    """Called by the command line (its `--verbose`; `command` names the log file): from here on, starting Ray
    captures its output. Library use without the command line keeps Ray's own printing."""
    _state["active"], _state["verbose"], _state["command"] = True, bool(verbose), command


def active() -> bool:
    return bool(_state["active"])


def verbose() -> bool:
    return bool(_state["verbose"])


def log_path() -> Path | None:
    return _state["path"]


def open_log() -> tuple[Path, IO[str]]:
    """This command's log file (created on first use, under `$SFP_HOME/logs`)."""
    with _lock:
        if _state["log"] is None:
            from sfp.tracking import sfp_home

            folder = sfp_home() / "logs"
            folder.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = folder / f"{_state['command']}-{stamp}-{os.getpid()}.log"
            _state["path"], _state["log"] = path, open(path, "a", buffering=1, encoding="utf-8")
        return _state["path"], _state["log"]


def write_log(line: str) -> None:
    _, log = open_log()
    with _lock:
        log.write(line if line.endswith("\n") else line + "\n")


def capture_library_output() -> Path:
    """Before Ray starts: the log records of Ray, Ray Data and the other libraries, and Python warnings, go to the
    log file (and, verbose, to stderr as well). Returns the log file's path; `release` undoes it.

    MLflow is not imported for this (1.5 s, for commands that never track): it sets its loggers' handlers when it is
    imported, so they are redirected again right after its import (a post-import hook), or now if it was imported."""
    path, log = open_log()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name(LOG_HANDLER)
    _state["handler"] = handler
    logging.captureWarnings(True)  # warnings.warn -> the `py.warnings` logger
    _state["captured_warnings"] = True
    for name in NOISY_LOGGERS:
        _redirect_logger(name, handler)
    if "mlflow" in sys.modules:
        _redirect_mlflow(sys.modules["mlflow"])
    elif not _state.get("mlflow_hook"):
        import wrapt

        wrapt.register_post_import_hook(_redirect_mlflow, "mlflow")  # runs at every later capture's import too
        _state["mlflow_hook"] = True
    return path


def _redirect_logger(name: str, handler: logging.Handler, *, again: bool = False) -> None:
    """`name`'s records to the log file (and nowhere else unless verbose); `again` after a library replaced the
    logger's handlers, keeping what `release` restores: the library's handlers and propagation."""
    saved = _state.setdefault("saved_loggers", {})
    if name in saved and not again:
        return
    logger = logging.getLogger(name)
    removed = [] if verbose() else [existing for existing in logger.handlers if _is_terminal(existing)]
    for existing in removed:
        logger.removeHandler(existing)
    added = [handler] + ([logging.StreamHandler(sys.stderr)] if verbose() and name == "py.warnings" else [])
    for new in added:
        if new not in logger.handlers:
            logger.addHandler(new)
    saved[name] = (removed, added, logger.propagate)
    if not verbose():  # quiet: nothing of theirs reaches the root logger's (or Python's last-resort) stderr
        logger.propagate = False


def _redirect_mlflow(module: Any) -> None:
    """MLflow's import gave its loggers (and those of its database layer) a stderr handler of their own."""
    if _state.get("handler") is None:  # no capture now (`release` clears it)
        return
    for name in MLFLOW_LOGGERS:
        _redirect_logger(name, _state["handler"], again=True)
    _redirect_mlflow_messages()


def _is_terminal(handler: logging.Handler) -> bool:
    """A handler that writes to a stream rather than a file: stderr, or a wrapper of it (MLflow's)."""
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) and \
        handler.get_name() != LOG_HANDLER


def capture_ray_output(display: Callable[[str], bool] | None = None) -> None:
    """After `ray.init`: every line a Ray worker prints, and the messages the raylet pushes to the driver, go to the
    log file; the terminal gets the platform's lines (and, verbose, Ray's own printing of the rest).
    `display(payload)` takes the `sfp-progress: ` lines."""
    try:
        from ray._private import worker as ray_worker
        from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher
    except ImportError:  # another Ray: its own printing stays
        return
    ray_print = next((handler for name, handler in dispatcher.handlers if name == RAY_PRINT_HANDLER), None)
    if ray_print is not None:
        _state["ray_print"] = ray_print
    ray_print = _state.get("ray_print")
    original_print = _state.setdefault("ray_print_to_stdstream", ray_worker.print_to_stdstream)
    dispatcher.remove_handler(RAY_PRINT_HANDLER)
    dispatcher.remove_handler(SFP_HANDLER)

    def route(data: dict, printer: Callable[[dict], None] | None) -> None:
        if data.get("pid") == "autoscaler":  # the autoscaler's periodic status (Ray itself prints only events)
            return
        source = data.get("actor_name") or data.get("task_name") or data.get("pid") or "worker"
        shown = []
        for line in data.get("lines") or []:
            if line.startswith(PROGRESS_PREFIX):
                if display is not None:
                    display(line[len(PROGRESS_PREFIX):])
                continue
            write_log(f"({source} pid={data.get('pid')}) {line}")
            if line.startswith(PLATFORM_PREFIX):
                print(line, file=sys.stderr, flush=True)
            else:
                shown.append(line)
        if verbose() and printer is not None and shown:
            printer({**data, "lines": shown})

    def raylet_message(data: dict, ignore_prefix: bool) -> None:  # what `listen_error_messages` prints
        route(data, lambda shown: original_print(shown, ignore_prefix))

    dispatcher.add_handler(SFP_HANDLER, lambda data: route(data, ray_print))
    ray_worker.print_to_stdstream = raylet_message


def _redirect_mlflow_messages() -> None:
    """MLflow prints some messages itself (`Created version '2' of model ...`), past its loggers: to the log file
    unless verbose."""
    if verbose():
        return
    try:
        from mlflow.utils import logging_utils
    except ImportError:
        return
    _state.setdefault("mlflow_stream", logging_utils.MLFLOW_LOGGING_STREAM)
    logging_utils.MLFLOW_LOGGING_STREAM = open_log()[1]


def release() -> None:
    """Undo the capture: Ray's own printing of worker lines, the loggers' handlers, warnings as before; the log
    file is closed (the next capture opens a new one)."""
    ray_logging = sys.modules.get("ray._private.ray_logging")  # never imports Ray: a command without it is done
    dispatcher = getattr(ray_logging, "global_worker_stdstream_dispatcher", None)
    if dispatcher is not None and any(name == SFP_HANDLER for name, _ in dispatcher.handlers):
        dispatcher.remove_handler(SFP_HANDLER)
        if _state.get("ray_print") is not None:
            dispatcher.add_handler(RAY_PRINT_HANDLER, _state["ray_print"])
    if _state.get("ray_print_to_stdstream") is not None:
        from ray._private import worker as ray_worker

        ray_worker.print_to_stdstream = _state.pop("ray_print_to_stdstream")
    if _state.get("mlflow_stream") is not None:
        from mlflow.utils import logging_utils

        logging_utils.MLFLOW_LOGGING_STREAM = _state.pop("mlflow_stream")
    for name, (removed, added, propagate) in _state.pop("saved_loggers", {}).items():
        logger = logging.getLogger(name)
        for handler in added:
            logger.removeHandler(handler)
        for handler in removed:
            logger.addHandler(handler)
        logger.propagate = propagate
    if _state.pop("captured_warnings", False):
        logging.captureWarnings(False)
    with _lock:
        if _state["log"] is not None:
            _state["log"].close()
        _state.update(active=False, verbose=False, log=None, path=None, ray_print=None, handler=None)

"""Connecting to Ray: a cluster when `RAY_ADDRESS` (or an address) is given, otherwise a local one.

On a small machine a local cluster gets more logical CPUs than cores: training workers that hold every CPU
would otherwise starve the Ray Data tasks that feed them, and the job would hang.
"""

from __future__ import annotations

import os
import re
import sys


def local_logical_cpus() -> int:
    return max(8, 2 * (os.cpu_count() or 1))


def quiet_ray_data() -> None:
    """Our own progress bars report the work; Ray Data's per-operator logs would drown them in a terminal."""
    import logging

    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


PLACEMENT_GROUP_CLEANER_LOGGER = "ray.train.v2._internal.execution.controller.placement_group_cleaner"


def quiet_local_workers() -> None:
    """Ray's `worker_process_setup_hook` for the local cluster (stdlib only: every worker process runs it).

    Ray Train's placement-group cleaner asks the State API whether the training controller is alive, once a second;
    the State API is served by the dashboard, which a local cluster here runs without, so each check logged a warning
    (287 of the demo's 656 output lines). Its errors still show."""
    import logging

    logging.getLogger(PLACEMENT_GROUP_CLEANER_LOGGER).setLevel(logging.ERROR)


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Start or join Ray once per process; entry points call this, library code never does.

    Run from the command line (`sfp.console.set_verbose` was called), Ray's worker lines, its log records and
    Python warnings go to the command's log file, printed here, and only with `--verbose` to the terminal as well;
    the training progress of rank 0 is drawn by a `ProgressDisplay` (`sfp.progress`)."""
    import ray

    from sfp import console

    quiet_ray_data()
    if ray.is_initialized():
        return
    captured = console.active()
    if captured:
        path = console.capture_library_output()
        shown = "also shown here (--verbose)" if console.verbose() else "--verbose shows them here"
        print(f"sfp: log: {path} (Ray workers, library logs and warnings; {shown})", file=sys.stderr, flush=True)
    level = "INFO" if captured and not console.verbose() else "WARNING"  # INFO only into the log file
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True, logging_level=level)
    else:
        ray.init(
            num_cpus=num_cpus or local_logical_cpus(),
            include_dashboard=False,
            log_to_driver=True,
            configure_logging=True,
            logging_level=level,
            runtime_env={"worker_process_setup_hook": f"{__name__}.{quiet_local_workers.__name__}"},
        )
    if captured:
        from sfp.progress import ProgressDisplay

        console.capture_ray_output(display=ProgressDisplay())


def is_ray_error(error: BaseException) -> bool:
    """An exception of Ray's own (a task's or actor's wrapper, Ray Train's training failure)."""
    return any(cls.__module__.split(".")[0] == "ray" for cls in type(error).__mro__)


def error_chain(error: BaseException) -> list[BaseException]:
    """`error` and what it stands for, outermost first: through Ray Train's worker failures (the lowest rank's) and
    the user exception each wraps, a task error's `cause` (what the task raised) and chained causes."""
    chain = [error]
    while True:
        current = chain[-1]
        failures = getattr(current, "worker_failures", None)
        if isinstance(failures, dict) and failures:
            step = failures[min(failures)]
        elif isinstance(getattr(current, "_base_exc", None), BaseException):  # Ray Train's worker exception
            step = current._base_exc
        elif isinstance(getattr(current, "cause", None), BaseException):
            step = current.cause
        else:
            step = current.__cause__
        if step is None or any(step is seen for seen in chain):
            return chain
        chain.append(step)


def original_reason(error: BaseException) -> str:
    """One line: the original reason of an error that crossed Ray (`AttributeError: 'X' object has no attribute
    'seed'`), not Ray's wrapper (`Training failed due to worker errors:`). The innermost exception with a message
    of its own wins; a platform error keeps its message as it is."""
    from sfp.errors import SfpError

    for exception in reversed(error_chain(error)):
        if isinstance(exception, SfpError):
            return str(exception)
        lines = [line.strip() for line in str(exception).strip().splitlines() if line.strip()]
        if not lines:
            continue
        if is_ray_error(exception):  # Ray's text holds the remote traceback: its last exception line is the error
            raised = [line for line in lines if EXCEPTION_LINE.match(line) and not RAY_WRAPPER_LINE.match(line)]
            if raised:
                return raised[-1][:300]
            continue
        return f"{type(exception).__name__}: {lines[-1]}"[:300]
    return type(error).__name__


RAY_WRAPPER_LINE = re.compile(r"^(?:ray\.[\w.]+|RayTaskError\w*|UserCodeException|RayActorError)[:(]")
EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit|Interrupt)(?:\([\w.]*\))?: \S")


def code_version() -> str:
    """`SFP_CODE_VERSION` when set (a Ray job runs an uploaded copy of the checkout, outside git: `sfp jobs submit`
    records the submitter's commit there), else the git commit of the working tree, else the package version."""
    import subprocess
    from pathlib import Path

    import sfp

    if os.environ.get("SFP_CODE_VERSION"):
        return os.environ["SFP_CODE_VERSION"]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        return f"{commit}{'-dirty' if dirty else ''}"
    except (subprocess.SubprocessError, OSError):
        return f"sfp-{sfp.__version__}"

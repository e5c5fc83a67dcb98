"""`scripts/setup.sh` (`make setup`) prints its own steps, one line each, and keeps apt-get's and pip's output in a log
file: on a venv that is set up (every step is skipped, nothing is installed) and on a venv whose Python cannot
create it (the step fails with one error line, the log's path and its tail, and leaves no stamp)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sfp


def run_setup(repo_root: Path, venv: Path, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(repo_root / "scripts" / "setup.sh"), str(venv)], cwd=repo_root,
                          env={**os.environ, "SFP_HOME": str(home), **env}, capture_output=True, text=True,
                          timeout=300)


def require_system_tools() -> None:
    """Setup installs missing system tools with apt-get as root: these tests must find them all, to install nothing."""
    missing = [tool for tool in ("ffmpeg", "ffprobe", "chromium", "chromedriver") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: setup would install them (make setup)")


def set_up_venv(repo_root: Path, venv: Path) -> None:
    """A venv as setup leaves it, without copying one: its stamp for the current pins, and a `bin/python` that is
    the Python running the tests (whose `sfp` is this checkout's editable install)."""
    key = subprocess.run("cat pyproject.toml requirements.lock | sha1sum | cut -c1-16", shell=True, cwd=repo_root,
                         capture_output=True, text=True, check=True).stdout.strip()
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (venv / "bin" / "python").chmod(0o755)
    (venv / f".sfp-deps-{key}").touch()


def test_a_second_run_prints_only_its_skipped_steps(repo_root: Path, tmp_path: Path) -> None:
    require_system_tools()
    here = repo_root.resolve()
    if Path(sfp.__file__).resolve().parents[2] != here:
        pytest.skip(f"the tests' Python imports sfp from {sfp.__file__}, not from this checkout (make setup)")
    venv = tmp_path / "venv"
    set_up_venv(repo_root, venv)

    result = run_setup(repo_root, venv, tmp_path / "home")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "setup: ffmpeg: found, skipped",
        "setup: chromium and chromedriver (browser test): found, skipped",
        f"setup: pinned dependencies in {venv}: up to date, skipped",
        f"setup: sfp installed editable from {here}: yes, skipped",
        f"setup: ready: {venv}",
    ]
    assert not (tmp_path / "home").exists()  # nothing ran apt-get or pip: no log


def test_a_failed_step_prints_one_error_line_and_the_logs_tail(repo_root: Path, tmp_path: Path) -> None:
    require_system_tools()
    python = tmp_path / "python3.11"  # a Python without the venv module, as Debian's python3.11 without python3.11-venv
    python.write_text("#!/bin/sh\necho 'Error: ensurepip is not available (apt install python3.11-venv)' >&2\nexit 1\n")
    python.chmod(0o755)
    venv = tmp_path / "venv"

    result = run_setup(repo_root, venv, tmp_path / "home", PYTHON=str(python))

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == (f"setup: pinned dependencies in {venv}: installing (first time: a few minutes) ... failed")
    (log,) = (tmp_path / "home" / "logs").glob("setup-*.log")
    error, *tail = result.stderr.splitlines()
    assert error == f"setup: error: {python} could not create the virtualenv {venv} (log: {log})"
    assert tail == [f"  | + {python} -m venv {venv}",
                    "  | Error: ensurepip is not available (apt install python3.11-venv)"]
    assert not venv.exists()  # no stamp, nothing half-made: the next run starts this step again

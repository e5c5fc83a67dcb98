"""sfp.console: by default Ray's worker lines, library logs and warnings go to the command's log file and not to the
terminal; the platform's own `sfp: ` lines still show, progress lines go to the display; `--verbose` shows it all."""

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sfp import console
from sfp_app.cli.main import build_parser


@pytest.mark.parametrize("argv", [["--verbose", "model", "list"], ["model", "list", "--verbose"],
                                  ["framestore", "verify", "x", "--verbose"]])
def test_verbose_before_or_after_the_command(argv):
    assert build_parser().parse_args(argv).verbose is True


def test_quiet_by_default():
    assert build_parser().parse_args(["model", "list"]).verbose is False


def test_the_capture_lasts_as_long_as_the_command(tmp_path, capsys):
    from sfp_app.cli.main import main

    assert main(["--verbose", "model", "list", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"]) == 0
    assert not console.active() and not console.verbose() and console.log_path() is None
    assert not (tmp_path / "none.db").exists()  # and a listing created no store


def test_library_logs_and_warnings_go_to_the_log_file_only(tmp_path, repo_root):
    """In a fresh interpreter (pytest records warnings itself): a deprecation warning, Ray's and MLflow's log
    records land in the file whose path `capture_library_output` returns; the terminal gets none of them. The
    capture does not import MLflow; MLflow's records before and after its import are redirected alike."""
    script = (
        "import logging, warnings\n"
        "from sfp import console\n"
        "console.set_verbose(False, 'probe')\n"
        "path = console.capture_library_output()\n"
        "import sys\n"
        "assert 'mlflow' not in sys.modules, 'the capture imported MLflow'\n"
        "warnings.warn('this API is going away', DeprecationWarning)\n"
        "logging.getLogger('ray').warning('a ray record')\n"
        "logging.getLogger('ray.data').warning('Progress bars disabled')\n"
        "from mlflow.utils.logging_utils import eprint\n"  # MLflow's import sets its loggers' handlers
        "eprint(\"Created version '2' of model 'x'.\")\n"
        "logging.getLogger('mlflow.store.db.utils').info('Creating initial MLflow database tables...')\n"
        "logging.getLogger('mlflow.tracking').warning('a record after the import')\n"
        "logging.getLogger('alembic.runtime.migration').warning('Running upgrade')\n"
        "print(path)\n"
    )
    completed = subprocess.run([sys.executable, "-W", "default", "-c", script], capture_output=True, text=True,
                               cwd=repo_root, env={**_env(), "SFP_HOME": str(tmp_path)}, timeout=300)

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    path = Path(completed.stdout.strip())
    assert path.parent == tmp_path / "logs" and path.name.startswith("probe-")
    text = path.read_text()
    for expected in ("DeprecationWarning: this API is going away", "a ray record",
                     "Creating initial MLflow database tables", "Progress bars disabled", "Created version '2'",
                     "a record after the import", "Running upgrade"):
        assert expected in text, (expected, text)


def test_a_capture_after_mlflow_was_imported_redirects_it_too(tmp_path, repo_root):
    """MLflow imported before the command starts (a notebook, a test session): its handlers go at once."""
    script = (
        "import logging, mlflow\n"
        "from sfp import console\n"
        "for verbose in (False, False):\n"  # twice: the second capture finds MLflow's handlers restored
        "    console.set_verbose(verbose, 'probe')\n"
        "    path = console.capture_library_output()\n"
        "    logging.getLogger('mlflow.tracking').warning('a record of MLflow')\n"
        "    console.release()\n"
        "    print(path)\n"
        "logging.getLogger('mlflow.tracking').warning('after release')\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=repo_root,
                               env={**_env(), "SFP_HOME": str(tmp_path)}, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "a record of MLflow" not in completed.stderr and "after release" in completed.stderr
    for line in completed.stdout.split():
        assert "a record of MLflow" in Path(line).read_text()


def _env() -> dict:
    import os

    return {key: value for key, value in os.environ.items() if key != "SFP_HOME"}


def wait_for(condition, seconds: float = 120.0) -> bool:
    """Ray forwards worker lines asynchronously: wait for them (a bound on waiting, not a speed assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_worker_lines_go_to_the_log_file_platform_lines_show(ray_cluster, tmp_path, monkeypatch, capfd, verbose):
    import ray

    monkeypatch.setenv("SFP_HOME", str(tmp_path))
    received: list[str] = []
    marker = f"noise-{verbose}-{time.time_ns()}"
    console.set_verbose(verbose, "probe")
    try:
        path = console.capture_library_output()
        console.capture_ray_output(display=lambda payload: received.append(payload) or True)

        @ray.remote(num_cpus=0)
        def chatty(marker: str) -> int:
            import warnings

            print(f"{marker} from a worker")
            print(f"sfp: a platform note {marker}")
            print('sfp-progress: {"kind": "probe"}', flush=True)
            warnings.warn(f"{marker} old API", FutureWarning)
            return 1

        assert ray.get(chatty.remote(marker)) == 1
        from ray._private import worker as ray_worker  # what the driver's thread for the raylet's messages calls

        ray_worker.print_to_stdstream({"lines": [f"WARNING: {marker} worker processes"], "pid": "raylet",
                                       "is_err": False}, ignore_prefix=False)
        assert wait_for(lambda: f"{marker} old API" in path.read_text() and received)
    finally:
        console.release()
    time.sleep(0.5)  # anything Ray prints late lands in capfd below, where it would fail the quiet case
    out, err = capfd.readouterr()
    text = path.read_text() if path.exists() else ""
    assert f"{marker} from a worker" in text and f"a platform note {marker}" in text
    assert received == ['{"kind": "probe"}']
    assert f"sfp: a platform note {marker}\n" in err  # the platform's line, without Ray's prefix
    assert "sfp-progress" not in out + err
    assert (f"{marker} from a worker" in out + err) is verbose
    assert (f"{marker} old API" in out + err) is verbose
    assert f"(raylet pid=raylet) WARNING: {marker} worker processes" in text
    assert (f"WARNING: {marker} worker processes" in out + err) is verbose

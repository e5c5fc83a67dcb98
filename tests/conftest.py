"""Fixtures shared by every test tier.

`s3_server` is a real S3 endpoint (SeaweedFS on 127.0.0.1, free ports, bucket `sfp-test`) started once per
session; `s3_env` points boto3, s3fs and MLflow at it through the standard AWS variables for one test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Callable, ContextManager, Iterator

import pytest

from sfp_app.localstack.seaweedfs import SeaweedFS, start_seaweedfs

TEST_BUCKET = "sfp-test"


def pytest_configure(config: pytest.Config) -> None:
    # `make test` (CI, kept under 10 minutes on 2 cores) deselects these; `make test-all` runs them too
    config.addinivalue_line(
        "markers", "extended: long end-to-end runs (ablation, scale, browser, AVA fine-tune) that `make test-all` adds"
    )


OWN_RAY_FIXTURES = {"local_stack", "cluster_run", "sfp_jobs", "no_local_ray", "flaky_s3"}
"""Fixtures of tests that start a Ray of their own (the local stack; Ray workers with another S3 endpoint): they run
last, once the shared local Ray is stopped for good. Starting Ray again in the same process after `ray.shutdown()` times out on a loaded machine."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests with a Ray head of their own to the end (stable: every other test keeps its order)."""
    items.sort(key=lambda item: bool(OWN_RAY_FIXTURES & set(getattr(item, "fixturenames", ()))))


@pytest.fixture(scope="session", autouse=True)
def sfp_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The platform's home (`SFP_HOME`: the default MLflow store, the logs) in a temporary folder for the whole
    session, inherited by the Ray workers and subprocesses the tests start: no test writes to the user's `~/.sfp`."""
    home = tmp_path_factory.mktemp("sfp-home")
    saved = os.environ.get("SFP_HOME")
    os.environ["SFP_HOME"] = str(home)
    yield home
    if saved is None:
        os.environ.pop("SFP_HOME", None)
    else:
        os.environ["SFP_HOME"] = saved


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def load_benchmark(repo_root: Path) -> Callable[[str], ContextManager]:
    """`with load_benchmark("bench_loader") as module:` the script `benchmarks/<name>.py` imported as a module (the
    benchmarks are scripts, not a package), registered in `sys.modules` while in use (dataclasses look it up)."""

    @contextlib.contextmanager
    def load(name: str) -> Iterator:
        spec = importlib.util.spec_from_file_location(name, repo_root / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
            yield module
        finally:
            sys.modules.pop(name, None)

    return load


@pytest.fixture(scope="session")
def fixtures_dir(repo_root: Path) -> Path:
    return repo_root.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), buckets=[TEST_BUCKET])
    try:
        yield server
    finally:
        server.stop(timeout=5)  # test data need no graceful flush: SIGKILL after 5 s instead of 30


@pytest.fixture
def s3_env(s3_server: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> Iterator[SeaweedFS]:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    yield s3_server


@pytest.fixture(scope="session")
def _ray_shutdown_at_session_end() -> Iterator[None]:
    yield
    import ray

    ray.shutdown()


@pytest.fixture(scope="module")
def ray_cluster(_ray_shutdown_at_session_end: None) -> Iterator[None]:
    """A real local Ray cluster (more logical CPUs than cores, as the platform starts it), shared by every module
    that asks for it: started by the first, stopped at the end of the session or by the first test that starts a Ray
    head of its own (those run last).

    Starting Ray costs 10-30 s on 2 cores, so modules do not start one each; a module that needs a fresh cluster
    would say so."""
    from sfp.raycluster import init_ray

    init_ray()  # joins the running one when an earlier module started it
    yield


@pytest.fixture
def no_local_ray() -> None:
    """Stop this process's local Ray before a test that starts a Ray head of its own: two clusters at once confuse
    Ray's state API ("multiple active Ray instances"). Such tests run last (`pytest_collection_modifyitems`)."""
    import ray

    ray.shutdown()

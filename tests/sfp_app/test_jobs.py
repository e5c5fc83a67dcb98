"""`sfp_app.jobs`: which cluster, which token, what a job carries (settings and code, never credentials), why it failed.
The jobs themselves run in `tests/e2e/test_cluster_jobs.py`."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from sfp_app.cli import jobs as jobs_cli
from sfp.errors import SfpError
from sfp_app.jobs import (
    _api_address_only,
    auth_headers,
    failure_reason,
    ignore_patterns,
    job_env,
    job_spec,
    project_root,
    resolve_address,
)
from sfp.raycluster import code_version


def test_address_comes_from_the_flag_then_the_api_variable_then_an_http_ray_address() -> None:
    environ = {"RAY_API_SERVER_ADDRESS": "http://api:8265/", "RAY_ADDRESS": "http://ray:8265"}
    assert resolve_address("https://flag:443", environ) == "https://flag:443"
    assert resolve_address(None, environ) == "http://api:8265"
    assert resolve_address(None, {"RAY_ADDRESS": "http://ray:8265"}) == "http://ray:8265"
    with pytest.raises(SfpError, match=r"RAY_ADDRESS=10\.0\.0\.1:6379 is where ray\.init\(\) connects"):
        resolve_address(None, {"RAY_ADDRESS": "10.0.0.1:6379"})
    with pytest.raises(SfpError, match="--address http://HEAD:8265"):
        resolve_address(None, {})
    with pytest.raises(SfpError, match="expected http://HOST:PORT"):
        resolve_address("head:8265", {})


def test_the_client_sees_only_the_resolved_address_while_it_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    with _api_address_only("http://127.0.0.1:8265"):
        assert os.environ["RAY_API_SERVER_ADDRESS"] == "http://127.0.0.1:8265" and "RAY_ADDRESS" not in os.environ
    assert os.environ["RAY_ADDRESS"] == "10.0.0.1:6379" and "RAY_API_SERVER_ADDRESS" not in os.environ


def test_token_from_the_variable_or_the_file_of_the_local_stack(tmp_path: Path) -> None:
    token_file = tmp_path / "ray-auth-token"
    token_file.write_text("abc123\n")
    assert auth_headers({"RAY_AUTH_TOKEN": "xyz"}) == {"Authorization": "Bearer xyz"}
    assert auth_headers({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}) == {
        "Authorization": "Bearer abc123"
    }
    assert auth_headers({}) == {}
    with pytest.raises(SfpError, match="cannot read the Ray token"):
        auth_headers({"RAY_AUTH_TOKEN_PATH": str(tmp_path / "missing")})


def test_jobs_get_settings_and_package_folders_never_credentials() -> None:
    environ = {
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "AWS_ENDPOINT_URL_S3": "http://s3:8333",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "not-for-jobs",
        "AWS_SESSION_TOKEN": "not-for-jobs-either",
        "MLFLOW_TRACKING_PASSWORD": "nor-this",
        "HOME": "/root",
    }
    assert job_env(environ, {"SFP_NOTE": "x"}) == {
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "AWS_ENDPOINT_URL_S3": "http://s3:8333",
        "AWS_DEFAULT_REGION": "us-west-2",
        "SFP_NOTE": "x",
        "PYTHONPATH": "platform:preprocessing:training",
    }
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "MLFLOW_TRACKING_PASSWORD", "RAY_AUTH_TOKEN"):
        with pytest.raises(SfpError, match=f"{name}: credentials are not passed"):
            job_env({}, {name: "x"})
    with pytest.raises(SfpError, match="MLFLOW_TRACKING_URI: the URI holds a password"):
        job_env({"MLFLOW_TRACKING_URI": "https://ray:hunter2@mlflow.example.com"})


def test_the_working_dir_leaves_out_git_and_what_git_ignores(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("# comment\n.venv/\n\n/mlruns/\n*.egg-info/\n")
    assert ignore_patterns(tmp_path) == [".git", ".venv/", "/mlruns/", "*.egg-info/"]
    assert ignore_patterns(tmp_path / "nothing-here") == [".git"]


def test_the_checkout_is_the_given_one_or_the_one_around_the_current_folder(
    repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert project_root(repo_root) == repo_root
    with pytest.raises(SfpError, match="not a checkout of the project"):
        project_root(tmp_path)
    monkeypatch.chdir(repo_root / "training" / "sfp_train")
    assert project_root() == repo_root
    monkeypatch.chdir(tmp_path)
    assert project_root() == Path(__import__("sfp").__file__).resolve().parents[2]  # the imported checkout


def test_a_job_runs_sfp_as_a_module_on_the_packaged_code(repo_root: Path) -> None:
    spec = job_spec(["train", "configs/demo recipe.yaml", "optim.epochs=2"], repo_root, {"AWS_REGION": "eu-west-1"})
    assert spec.entrypoint == "python -m sfp_app.cli.main train 'configs/demo recipe.yaml' optim.epochs=2"
    assert shlex.split(spec.entrypoint)[3:] == ["train", "configs/demo recipe.yaml", "optim.epochs=2"]
    assert spec.runtime_env["working_dir"] == str(repo_root)
    assert spec.runtime_env["excludes"][0] == ".git" and ".venv/" in spec.runtime_env["excludes"]
    assert spec.runtime_env["env_vars"] == {
        "AWS_REGION": "eu-west-1",
        "PYTHONPATH": "platform:preprocessing:training",
        "SFP_CODE_VERSION": code_version(),  # the uploaded copy has no .git
    }
    assert spec.metadata["sfp.code"] == code_version()
    assert spec.metadata["sfp.command"] == "train"
    assert spec.metadata["sfp.arguments"] == "train 'configs/demo recipe.yaml' optim.epochs=2"
    with pytest.raises(SfpError, match="no sfp command"):
        job_spec([], repo_root, {})
    with pytest.raises(SfpError, match="not as a job"):
        job_spec(["jobs", "list"], repo_root, {})


def test_the_failure_reason_is_one_line() -> None:
    failed = SimpleNamespace(status="FAILED", driver_exit_code=1, message="Job entrypoint command failed with exit "
                             "code 2, last available logs (truncated to 20,000 chars):\nsfp: error: x")
    logs = "Running entrypoint\nsome output\nsfp: error: configs/a.yaml: optim.epoch: unknown key\n"
    assert failure_reason(failed, logs) == "configs/a.yaml: optim.epoch: unknown key"
    traceback = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: shape mismatch: 3 != 4\n"
    assert failure_reason(failed, traceback) == "ValueError: shape mismatch: 3 != 4 (exit code 1)"
    assert failure_reason(failed, "") == "Job entrypoint command failed with exit code 2, last available logs " \
                                         "(truncated to 20,000 chars):"
    stopped = SimpleNamespace(status="STOPPED", driver_exit_code=None, message=None)
    assert failure_reason(stopped, "") == "STOPPED"


def test_everything_after_the_double_dash_is_the_sfp_command_line() -> None:
    parser = argparse.ArgumentParser(prog="sfp")
    jobs_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["jobs", "submit", "--address", "http://h:8265", "--env", "A=1", "--",
                              "preprocess", "--output", "s3://b/x", "decode.fps=15"])
    assert args.address == "http://h:8265" and args.env == ["A=1"]
    assert args.arguments == ["--", "preprocess", "--output", "s3://b/x", "decode.fps=15"]
    assert parser.parse_args(["jobs", "logs", "raysubmit_1", "-f"]).follow is True
    assert parser.parse_args(["jobs", "list", "--json"]).json is True

"""Running `sfp` commands on a Ray cluster through the Ray Jobs API.

    client = connect(resolve_address(None, os.environ), os.environ)
    spec = job_spec(["train", "configs/demo.yaml", "optim.epochs=2"], project_root(), os.environ)
    submission_id = client.submit_job(entrypoint=spec.entrypoint, runtime_env=spec.runtime_env, metadata=spec.metadata)
    follow_logs(client, submission_id, sys.stdout.write)
    info = wait_for_end(client, submission_id)

The job runs `python -m sfp_app.cli.main <arguments>` in this checkout, packaged as the job's working directory (what
git ignores stays behind); `PYTHONPATH` names the three package folders inside it, so the job imports the code that
was submitted, not whatever version is installed on the cluster (`SFP_CODE_VERSION` carries the submitter's git
commit, which the copy cannot tell). Settings (the MLflow server, the S3 endpoint and region) travel with the job as
environment variables; credentials never do: nodes get them from their instance role, a Kubernetes secret, or the
environment the Ray head was started with (the local stack's head has them).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from sfp.credentials import credential_name
from sfp.errors import SfpError

ENTRYPOINT = "python -m sfp_app.cli.main"
PACKAGE_DIRS = ("platform", "preprocessing", "training")  # relative to the job's working directory
SETTINGS_ENV = (  # settings a job gets from the submitting shell when they are set there
    "MLFLOW_TRACKING_URI",
    "MLFLOW_S3_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)
CREDENTIAL_NAME = credential_name(also=("session",))  # a job gets no session of the submitter either
TERMINAL_STATES = ("SUCCEEDED", "FAILED", "STOPPED")


@dataclass(frozen=True)
class JobSpec:
    """What `submit_job` receives: the shell command, the runtime environment, the metadata shown by `jobs list`."""

    entrypoint: str
    runtime_env: dict[str, Any]
    metadata: dict[str, str]


def resolve_address(address: str | None, environ: Mapping[str, str]) -> str:
    """The Jobs API URL: `address`, else `RAY_API_SERVER_ADDRESS`, else `RAY_ADDRESS` when it is an http(s) URL."""
    for value in (address, environ.get("RAY_API_SERVER_ADDRESS")):
        if value:
            return _http_url(value)
    ray_address = environ.get("RAY_ADDRESS", "")
    if ray_address.startswith(("http://", "https://")):
        return ray_address.rstrip("/")
    hint = f" (RAY_ADDRESS={ray_address} is where ray.init() connects, not the Jobs API)" if ray_address else ""
    raise SfpError(
        f"no Ray Jobs API address{hint}: pass --address http://HEAD:8265 or set RAY_API_SERVER_ADDRESS "
        '(the local stack: eval "$(sfp stack env)")'
    )


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise SfpError(f"Jobs API address {value!r}: expected http://HOST:PORT (the Ray dashboard, port 8265)")
    return value.rstrip("/")


def auth_headers(environ: Mapping[str, str]) -> dict[str, str]:
    """The bearer token of a cluster with token authentication: `RAY_AUTH_TOKEN`, else the file at
    `RAY_AUTH_TOKEN_PATH` (what `sfp stack env` exports), else `~/.ray/auth_token` when `RAY_AUTH_MODE=token`."""
    token = environ.get("RAY_AUTH_TOKEN", "").strip()
    path = environ.get("RAY_AUTH_TOKEN_PATH")
    if not path and environ.get("RAY_AUTH_MODE") == "token":
        path = str(Path.home() / ".ray" / "auth_token")
    if not token and path:
        try:
            token = Path(path).expanduser().read_text().strip()
        except OSError as error:
            raise SfpError(f"RAY_AUTH_TOKEN_PATH: cannot read the Ray token at {path} ({error.strerror})") from None
    return {"Authorization": f"Bearer {token}"} if token else {}


@contextmanager
def _api_address_only(address: str) -> Iterator[None]:
    """Ray's client takes its address from RAY_API_SERVER_ADDRESS / RAY_ADDRESS over its argument; for the time it
    is built, the address we resolved is the only one it sees."""
    saved = {name: os.environ.get(name) for name in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")}
    os.environ["RAY_API_SERVER_ADDRESS"] = address
    os.environ.pop("RAY_ADDRESS", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def connect(address: str, environ: Mapping[str, str]) -> Any:
    """A `JobSubmissionClient` for the Jobs API at `address`, with the cluster's token when there is one."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    headers = auth_headers(environ)
    with _api_address_only(address):
        try:
            return JobSubmissionClient(address, headers=headers)
        except AuthenticationError as error:
            hint = "the token was refused" if headers else "set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH"
            raise SfpError(f"Ray Jobs API at {address}: {_one_line(str(error))} ({hint})") from None
        except (ConnectionError, RuntimeError) as error:
            raise SfpError(f"Ray Jobs API at {address}: {_one_line(str(error))}") from None


def project_root(working_dir: Path | None = None) -> Path:
    """The checkout to package: `working_dir` when given, else the one around the current folder, else the one the
    imported `sfp` comes from. A checkout holds `pyproject.toml` and the package folders."""
    import sfp

    def is_checkout(folder: Path) -> bool:
        return (folder / "pyproject.toml").is_file() and all((folder / name).is_dir() for name in PACKAGE_DIRS)

    if working_dir is not None:
        if not is_checkout(Path(working_dir)):
            folders = ", ".join(PACKAGE_DIRS)
            raise SfpError(f"--working-dir {working_dir}: not a checkout of the project (pyproject.toml, {folders})")
        return Path(working_dir).resolve()
    for start in (Path.cwd().resolve(), Path(sfp.__file__).resolve().parent):
        for folder in (start, *start.parents):
            if is_checkout(folder):
                return folder
    raise SfpError("not inside a checkout of the project; run from one or pass --working-dir")


def ignore_patterns(root: Path) -> list[str]:
    """`.git` and the patterns of the root `.gitignore` (gitignore syntax is what Ray's `excludes` take)."""
    patterns = [".git"]
    gitignore = root / ".gitignore"
    if gitignore.is_file():
        for line in gitignore.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line)
    return patterns


def job_env(environ: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a job gets: the settings of `SETTINGS_ENV` set in `environ`, `extra`, and `PYTHONPATH`.

    Raises `SfpError` for a name that looks like a credential or a URI that carries a password.
    """
    env = {name: environ[name] for name in SETTINGS_ENV if environ.get(name)}
    env.update(extra or {})
    for name, value in env.items():
        if CREDENTIAL_NAME.search(name):
            raise SfpError(f"{name}: credentials are not passed to jobs; nodes get them from their role or secret")
        if urllib.parse.urlsplit(value).password:
            raise SfpError(f"{name}: the URI holds a password; give the cluster its credentials by role or secret")
    env["PYTHONPATH"] = os.pathsep.join(PACKAGE_DIRS)
    return env


def job_spec(
    arguments: Sequence[str], root: Path, environ: Mapping[str, str], extra_env: Mapping[str, str] | None = None
) -> JobSpec:
    """The job that runs `sfp <arguments>` on the code under `root`."""
    from sfp.raycluster import code_version

    if not arguments:
        raise SfpError("no sfp command to submit: sfp jobs submit -- train RECIPE.yaml [key=value ...]")
    if arguments[0] == "jobs":
        raise SfpError("`sfp jobs` runs where you are, not as a job")
    version = code_version()
    env_vars = {**job_env(environ, extra_env), "SFP_CODE_VERSION": version}  # the copy has no .git: lineage tags
    runtime_env = {"working_dir": str(root), "excludes": ignore_patterns(root), "env_vars": env_vars}
    metadata = {"sfp.command": arguments[0], "sfp.arguments": shlex.join(arguments), "sfp.code": version}
    return JobSpec(entrypoint=f"{ENTRYPOINT} {shlex.join(arguments)}", runtime_env=runtime_env, metadata=metadata)


def follow_logs(client: Any, submission_id: str, write: Callable[[str], Any], poll_s: float = 2.0) -> None:
    """Write the job's output as it comes until the job ends: the log stream, or polling where that is refused."""
    shown = 0

    async def tail() -> None:
        nonlocal shown
        async for chunk in client.tail_job_logs(submission_id):
            write(chunk)
            shown += len(chunk)

    try:
        asyncio.run(tail())
        return
    except Exception:  # a proxy without websockets, a dropped stream: poll for the rest
        pass
    while True:
        logs = client.get_job_logs(submission_id)
        if len(logs) < shown:  # logs rotated or the job restarted: show them again from the start
            shown = 0
        write(logs[shown:])
        shown = len(logs)
        if str(client.get_job_status(submission_id)) in TERMINAL_STATES:
            write(client.get_job_logs(submission_id)[shown:])
            return
        time.sleep(poll_s)


def wait_for_end(client: Any, submission_id: str, timeout_s: float | None = None, poll_s: float = 1.0) -> Any:
    """The job's `JobInfo` once its status is terminal (SUCCEEDED, FAILED or STOPPED)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        info = client.get_job_info(submission_id)
        if str(info.status) in TERMINAL_STATES:
            return info
        if deadline is not None and time.monotonic() > deadline:
            raise SfpError(f"job {submission_id} still {info.status} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def failure_reason(info: Any, logs: str) -> str:
    """One line on why a job did not succeed: the `sfp: error:` line of its output, else its last error line, else
    Ray's message."""
    lines = [line.strip() for line in logs.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("sfp: error:"):
            return line.removeprefix("sfp: error:").strip()
    exit_code = getattr(info, "driver_exit_code", None)
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_.]*(Error|Exception)\b.*:", line):
            return f"{line} (exit code {exit_code})" if exit_code is not None else line
    return _one_line(info.message or str(info.status))


def _one_line(text: str, limit: int = 300) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 3] + "..."

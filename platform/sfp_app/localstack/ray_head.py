"""A single-node Ray cluster for the local stack: `ray start --head --block` in its own process group.

`--block` keeps one process (the `ray start` command) as the leader of every Ray process of this head, so
stopping it stops exactly this cluster and never another one of the same user (`ray stop` would stop them all).

Security: the Ray dashboard and Jobs API bind 127.0.0.1, but Ray resolves `--node-ip-address=127.0.0.1` to the
machine's address and has no loopback-only mode for its gRPC servers (GCS, raylet, object manager), so the
head runs with token authentication (`RAY_AUTH_MODE=token`) and a token of its own, kept in the data folder
(mode 0600). Clients get `RAY_AUTH_TOKEN_PATH` from `env()`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from sfp.errors import SfpError
from sfp_app.localstack.processes import (
    HEALTH_TIMEOUT_S,
    find_executable,
    free_port,
    log_tail,
    pid_runs,
    processes_with_option,
    spawn,
    stop_pids,
    stop_recorded,
    wait_until,
)

# Ray puts unix sockets at <temp_dir>/session_<date>_<pid>/sockets/plasma_store; sun_path holds 107 bytes.
_MAX_TEMP_DIR = 40


@dataclass
class RayHead:
    """A running Ray head: its Jobs API URL, its GCS address, its token, how to stop it."""

    dashboard_url: str
    gcs_port: int
    pid: int
    temp_dir: Path
    token_path: Path
    log_path: Path
    ports: dict[str, int]
    _process: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def env(self) -> dict[str, str]:
        """What a client needs: the Jobs API address (`ray job submit`, `JobSubmissionClient`) and the token.

        `RAY_ADDRESS` is left to the caller: `ray.init()` reads it as a GCS address (`host:port`), and an
        `http://` value there would make it try Ray Client instead.
        """
        return {
            "RAY_API_SERVER_ADDRESS": self.dashboard_url,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(self.token_path),
        }

    def is_running(self) -> bool:
        if self._process is not None:
            self._process.poll()
        return pid_runs(self.pid, f"--temp-dir={self.temp_dir}")

    def is_healthy(self) -> bool:
        """True if the Jobs API answers an authenticated `GET /api/version`."""
        return self.is_running() and jobs_api_answers(self.dashboard_url, self.token_path)

    def wait_until_ready(self, timeout: float = 120.0) -> None:
        if not wait_until(self.is_healthy, timeout=timeout, interval=0.5, alive=self.is_running):
            state = "exited" if not self.is_running() else f"did not answer within {timeout:.0f} s"
            tail = log_tail(self.log_path)
            raise SfpError(f"Ray head at {self.dashboard_url} {state}; end of {self.log_path}:\n{tail}")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop this head: `ray start --block` first (it stops raylet, GCS, dashboard), then its whole group.

        Ray processes that left the group are found by the head's private temp folder in their command-line
        options (`--temp-dir=...`, `--session-dir=...`) and stopped too.
        """
        stop_recorded(self.pid, ours=self.is_running(), timeout=timeout, process=self._process, leader_first=True)
        stop_pids(processes_with_option(f"{self.temp_dir}/"))

    def gcs_address(self) -> str | None:
        """`host:port` of the GCS as `ray.init(address=...)` takes it, as Ray recorded it (None before it did).

        Ray advertises the machine's address there, not 127.0.0.1.
        """
        try:
            return (self.temp_dir / "ray_current_cluster").read_text().strip() or None
        except FileNotFoundError:
            return None

    def to_record(self) -> dict[str, Any]:
        return {
            "dashboard_url": self.dashboard_url,
            "gcs_port": self.gcs_port,
            "pid": self.pid,
            "temp_dir": str(self.temp_dir),
            "token_path": str(self.token_path),
            "log_path": str(self.log_path),
            "ports": dict(self.ports),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> RayHead:
        return cls(
            dashboard_url=record["dashboard_url"],
            gcs_port=int(record["gcs_port"]),
            pid=int(record["pid"]),
            temp_dir=Path(record["temp_dir"]),
            token_path=Path(record["token_path"]),
            log_path=Path(record["log_path"]),
            ports={name: int(port) for name, port in record["ports"].items()},
        )


def jobs_api_answers(dashboard_url: str, token_path: Path) -> bool:
    try:
        token = token_path.read_text().strip()
    except FileNotFoundError:
        return False
    request = urllib.request.Request(f"{dashboard_url}/api/version", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=HEALTH_TIMEOUT_S) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def ensure_token(path: Path) -> Path:
    """The head's authentication token, created once (256 random bits, like `ray get-auth-token --generate`)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
    path.chmod(0o600)
    return path


def write_python_shims(folder: Path) -> Path:
    """`folder/python` and `folder/python3`: scripts that run this interpreter, for the head's PATH.

    A job's entrypoint (`python -m sfp_app.cli.main ...`) runs in the head's environment, where `python` must be the
    interpreter Ray runs on whether or not the shell that started the stack had its virtualenv activated. Only
    `python` is redirected: the rest of the virtualenv's `bin/` stays off PATH (its `ninja`, another version than the
    system's, would make every job rebuild the C++ extensions that runs outside jobs built, and the other way round).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        shim = folder / name
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
        shim.chmod(0o755)
    return folder


def ray_temp_dir(data_dir: Path) -> Path:
    """`<data_dir>/ray` when short enough for Ray's socket paths, else a /tmp folder named after `data_dir`."""
    preferred = data_dir / "ray"
    if len(str(preferred)) <= _MAX_TEMP_DIR:
        return preferred
    return Path("/tmp") / f"sfp-ray-{hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]}"


def launch_ray_head(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    dashboard_port: int = 8265,
    gcs_port: int | None = None,
    num_cpus: int | None = None,
    object_store_memory: int | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> RayHead:
    """Start `ray start --head --block` and return at once; `wait_until_ready` waits for the Jobs API.

    `extra_env` is added to the head's environment, which Ray workers and job drivers inherit (the local stack
    passes the S3 and MLflow variables this way). `gcs_port=None` picks a free port.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    temp_dir = ray_temp_dir(data_dir)
    token_path = ensure_token(data_dir / "ray-auth-token")
    ports = {"dashboard": dashboard_port, "gcs": gcs_port or free_port(host, exclude=[dashboard_port])}
    ports["client_server"] = free_port(host, exclude=list(ports.values()))
    ports["dashboard_agent"] = free_port(host, exclude=list(ports.values()))
    command = [
        str(find_executable("ray")), "start", "--head", "--block",
        f"--node-ip-address={host}",
        f"--port={ports['gcs']}",
        "--include-dashboard=true",
        f"--dashboard-host={host}",
        f"--dashboard-port={ports['dashboard']}",
        f"--dashboard-agent-listen-port={ports['dashboard_agent']}",
        f"--ray-client-server-port={ports['client_server']}",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ]  # fmt: skip
    if num_cpus is not None:
        command.append(f"--num-cpus={num_cpus}")
    if object_store_memory is not None:
        command.append(f"--object-store-memory={object_store_memory}")
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    env.update(extra_env or {})
    env["PATH"] = os.pathsep.join([str(write_python_shims(data_dir / "bin")), env.get("PATH", os.defpath)])
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token_path),
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",  # a local head has nothing to drain: stop at once on SIGTERM
        # The GCS declares a node dead after 5 missed health checks (3 s apart, 10 s each); a single machine busy
        # compiling or decoding misses them and would lose its only node and every job on it: 60 in a row instead.
        RAY_health_check_failure_threshold="60",
        RAY_USAGE_STATS_ENABLED="0",
    )
    log_path = data_dir / "ray-head.log"
    process = spawn(command, log_path=log_path, env=env)
    return RayHead(
        dashboard_url=f"http://{host}:{ports['dashboard']}",
        gcs_port=ports["gcs"],
        pid=process.pid,
        temp_dir=temp_dir,
        token_path=token_path,
        log_path=log_path,
        ports=ports,
        _process=process,
    )

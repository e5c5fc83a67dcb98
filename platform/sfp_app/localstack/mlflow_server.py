"""An MLflow tracking server for the local stack: SQLite for runs, S3 (SeaweedFS) for artifacts.

The server proxies artifacts (`--serve-artifacts`): clients upload to `mlflow-artifacts:/...` over HTTP and the
server stores them under `artifacts_destination` with the S3 variables it was started with, so clients need
no S3 credentials to log artifacts. Only Host headers naming this server are accepted (`--allowed-hosts`).
"""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from sfp.errors import SfpError
from sfp_app.localstack.processes import (
    HEALTH_TIMEOUT_S,
    find_executable,
    log_tail,
    pid_runs,
    spawn,
    stop_recorded,
    wait_until,
)


@dataclass
class MlflowServer:
    """A running `mlflow server`: its tracking URI, where it stores, how to stop it."""

    tracking_uri: str
    backend_store_uri: str
    artifacts_destination: str
    pid: int
    log_path: Path
    port: int
    _process: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def env(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": self.tracking_uri}

    def is_running(self) -> bool:
        if self._process is not None:
            self._process.poll()
        return pid_runs(self.pid, self.backend_store_uri)

    def is_healthy(self) -> bool:
        """True if `GET /health` answers 200."""
        if not self.is_running():
            return False
        try:
            with urllib.request.urlopen(f"{self.tracking_uri}/health", timeout=HEALTH_TIMEOUT_S) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_until_ready(self, timeout: float = 120.0) -> None:
        if not wait_until(self.is_healthy, timeout=timeout, interval=0.5, alive=self.is_running):
            state = "exited" if not self.is_running() else f"did not answer within {timeout:.0f} s"
            tail = log_tail(self.log_path)
            raise SfpError(f"MLflow at {self.tracking_uri} {state}; end of {self.log_path}:\n{tail}")

    def stop(self, timeout: float = 30.0) -> None:
        stop_recorded(self.pid, ours=self.is_running(), timeout=timeout, process=self._process)

    def to_record(self) -> dict[str, Any]:
        return {
            "tracking_uri": self.tracking_uri,
            "backend_store_uri": self.backend_store_uri,
            "artifacts_destination": self.artifacts_destination,
            "pid": self.pid,
            "log_path": str(self.log_path),
            "port": self.port,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> MlflowServer:
        return cls(
            tracking_uri=record["tracking_uri"],
            backend_store_uri=record["backend_store_uri"],
            artifacts_destination=record["artifacts_destination"],
            pid=int(record["pid"]),
            log_path=Path(record["log_path"]),
            port=int(record["port"]),
        )


def launch_mlflow_server(
    data_dir: Path,
    *,
    artifacts_destination: str,
    s3_env: Mapping[str, str],
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
) -> MlflowServer:
    """Start `mlflow server` and return at once; `wait_until_ready` waits for `/health`.

    `s3_env` (the AWS variables of the S3 endpoint) reaches only the server process: it is what the artifact
    proxy signs its S3 requests with.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    backend_store_uri = f"sqlite:///{data_dir / 'mlflow.db'}"
    command = [
        str(find_executable("mlflow")), "server",
        "--backend-store-uri", backend_store_uri,
        "--serve-artifacts",
        "--artifacts-destination", artifacts_destination,
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        "--allowed-hosts", f"{host}:{port},localhost:{port}",
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MLFLOW_"))}
    env.update(s3_env)
    env["MLFLOW_S3_ENDPOINT_URL"] = s3_env["AWS_ENDPOINT_URL_S3"]
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # GenAI job runners: eight processes a tracker does not need
    log_path = data_dir / "mlflow-server.log"
    process = spawn(command, log_path=log_path, env=env, cwd=data_dir)
    return MlflowServer(
        tracking_uri=f"http://{host}:{port}",
        backend_store_uri=backend_store_uri,
        artifacts_destination=artifacts_destination,
        pid=process.pid,
        log_path=log_path,
        port=port,
        _process=process,
    )

"""The local stack: SeaweedFS (S3), a Ray head and an MLflow server on 127.0.0.1, recorded in `<data>/stack.json`.

    stack = up(StackConfig())           # starts what is not running yet; a second `up` changes nothing
    print(format_exports(client_env(stack)))
    statuses = status(Path(".sfp/stack"))
    down(Path(".sfp/stack"))            # stops exactly the processes `up` recorded

The three services start side by side (each knows the others' addresses in advance) and `up` returns when
all answer their health checks. Jobs submitted to the Ray head inherit the S3 and MLflow variables.
"""

from __future__ import annotations

import json
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from sfp.config import StrictModel
from sfp.errors import SfpError
from sfp_app.localstack.mlflow_server import MlflowServer, launch_mlflow_server
from sfp_app.localstack.processes import port_is_free
from sfp_app.localstack.ray_head import RayHead, launch_ray_head
from sfp_app.localstack.seaweedfs import SeaweedFS, launch_seaweedfs

STATE_FILE = "stack.json"
STATE_VERSION = 1
SERVICES = ("seaweedfs", "ray", "mlflow")  # start order; `down` goes the other way


class StackConfig(StrictModel):
    """Where the local stack keeps its data and which ports its public endpoints use."""

    data_dir: Path = Path(".sfp/stack")
    host: str = "127.0.0.1"
    s3_port: int = Field(8333, ge=1, le=65535)
    ray_dashboard_port: int = Field(8265, ge=1, le=65535)
    ray_gcs_port: int | None = Field(None, ge=1, le=65535)  # None: a free port
    ray_num_cpus: int | None = Field(None, ge=0)  # None: Ray counts the machine's cores
    ray_object_store_memory: int | None = Field(None, ge=78_643_200)  # bytes; Ray's minimum is 75 MiB
    mlflow_port: int = Field(5000, ge=1, le=65535)
    buckets: tuple[str, ...] = ("sfp-data", "sfp-mlflow")
    mlflow_artifacts_destination: str = "s3://sfp-mlflow/artifacts"
    startup_timeout_s: float = Field(180.0, gt=0)


@dataclass
class Stack:
    """The services of one data folder, as recorded in its state file; a service not started is None."""

    data_dir: Path
    seaweedfs: SeaweedFS | None = None
    ray: RayHead | None = None
    mlflow: MlflowServer | None = None

    def services(self) -> dict[str, SeaweedFS | RayHead | MlflowServer | None]:
        return {name: getattr(self, name) for name in SERVICES}


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str | None
    pid: int | None
    running: bool
    healthy: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "pid": self.pid, "running": self.running, "healthy": self.healthy}


def state_path(data_dir: Path) -> Path:
    return Path(data_dir).resolve() / STATE_FILE


def read_stack(data_dir: Path) -> Stack | None:
    """The stack recorded in `data_dir`, or None if there is no state file."""
    path = state_path(data_dir)
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SfpError(f"{path}: not valid JSON ({error}); stop the services by hand and delete it") from None
    if state.get("version") != STATE_VERSION:
        raise SfpError(f"{path}: state version {state.get('version')!r}, expected {STATE_VERSION}")
    records = state.get("services", {})
    return Stack(
        data_dir=path.parent,
        seaweedfs=SeaweedFS.from_record(records["seaweedfs"]) if "seaweedfs" in records else None,
        ray=RayHead.from_record(records["ray"]) if "ray" in records else None,
        mlflow=MlflowServer.from_record(records["mlflow"]) if "mlflow" in records else None,
    )


def write_stack(stack: Stack) -> None:
    """Record the stack's services (atomically); with none left, remove the state file."""
    path = state_path(stack.data_dir)
    records = {name: handle.to_record() for name, handle in stack.services().items() if handle is not None}
    if not records:
        path.unlink(missing_ok=True)
        return
    state = {"version": STATE_VERSION, "services": records, "client_env": client_env(stack)}
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(state, indent=2) + "\n")
    partial.chmod(0o600)  # holds the local S3 keys
    partial.replace(path)


def client_env(stack: Stack) -> dict[str, str]:
    """The variables a client (shell, script, `ray job submit`, MLflow) needs to use the stack.

    `RAY_API_SERVER_ADDRESS` is the Jobs API (`http://...:8265`); `RAY_ADDRESS` is the GCS address that
    `ray.init()` connects to (Ray reads an `http://` RAY_ADDRESS as a Ray Client address and fails).
    """
    env: dict[str, str] = {}
    if stack.ray is not None:
        env.update(stack.ray.env())
        if (gcs_address := stack.ray.gcs_address()) is not None:
            env["RAY_ADDRESS"] = gcs_address
    if stack.mlflow is not None:
        env.update(stack.mlflow.env())
    if stack.seaweedfs is not None:
        env.update(stack.seaweedfs.env())
    return env


def format_exports(env: dict[str, str]) -> str:
    """`export NAME=value` lines for `eval "$(sfp stack env)"`."""
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items()))


def _require_free(host: str, port: int, what: str) -> None:
    if not port_is_free(port, host):
        raise SfpError(f"port {port} on {host} ({what}) is in use by another program; choose another port")


def _running(handle: SeaweedFS | RayHead | MlflowServer | None) -> bool:
    return handle is not None and handle.is_running()


def up(config: StackConfig) -> tuple[Stack, list[str]]:
    """Start every service of the stack that is not running; return the stack and the names started now.

    Services already running (per the state file and their process) are kept as they are; one that died is
    started again at the address recorded for it (the others were started knowing that address), after what
    is left of its processes is stopped. If a service started now does not become healthy, those started now
    are stopped again and the error shows the end of its log.
    """
    data_dir = config.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    stack = read_stack(data_dir) or Stack(data_dir=data_dir)
    started: list[str] = []
    try:
        if not _running(stack.seaweedfs):
            s3_port = stack.seaweedfs.ports["s3"] if stack.seaweedfs is not None else config.s3_port
            if stack.seaweedfs is not None:
                stack.seaweedfs.stop()
            _require_free(config.host, s3_port, "S3")
            stack.seaweedfs = launch_seaweedfs(data_dir / "seaweedfs", host=config.host, s3_port=s3_port)
            started.append("seaweedfs")
            write_stack(stack)
        mlflow_port = stack.mlflow.port if stack.mlflow is not None else config.mlflow_port
        if not _running(stack.ray):
            dashboard_port = stack.ray.ports["dashboard"] if stack.ray is not None else config.ray_dashboard_port
            if stack.ray is not None:
                stack.ray.stop()  # also the workers of a head that died
            _require_free(config.host, dashboard_port, "Ray dashboard")
            stack.ray = launch_ray_head(
                data_dir,
                host=config.host,
                dashboard_port=dashboard_port,
                gcs_port=config.ray_gcs_port,
                num_cpus=config.ray_num_cpus,
                object_store_memory=config.ray_object_store_memory,
                extra_env={**stack.seaweedfs.env(), "MLFLOW_TRACKING_URI": f"http://{config.host}:{mlflow_port}"},
            )
            started.append("ray")
            write_stack(stack)
        if not _running(stack.mlflow):
            if stack.mlflow is not None:
                stack.mlflow.stop()
            _require_free(config.host, mlflow_port, "MLflow")
            stack.mlflow = launch_mlflow_server(
                data_dir / "mlflow",
                artifacts_destination=config.mlflow_artifacts_destination,
                s3_env=stack.seaweedfs.env(),
                host=config.host,
                port=mlflow_port,
            )
            started.append("mlflow")
            write_stack(stack)
        stack.seaweedfs.wait_until_ready(config.startup_timeout_s)
        stack.seaweedfs.create_buckets(config.buckets)
        stack.ray.wait_until_ready(config.startup_timeout_s)
        stack.mlflow.wait_until_ready(config.startup_timeout_s)
    except BaseException:
        for name in reversed(started):
            getattr(stack, name).stop()
            setattr(stack, name, None)
        write_stack(stack)
        raise
    write_stack(stack)  # again: the GCS address is known only once Ray is up
    return stack, started


def down(data_dir: Path) -> list[str]:
    """Stop the services recorded in `data_dir` and remove the state file; return the names that were running.

    The services stop side by side (each takes seconds to shut down gracefully); a service that is not running
    any more still has what is left of its process group stopped (e.g. workers of a Ray head that died).
    """
    stack = read_stack(data_dir)
    if stack is None:
        return []
    handles = {name: handle for name, handle in stack.services().items() if handle is not None}
    running = [name for name, handle in handles.items() if handle.is_running()]
    with ThreadPoolExecutor(max_workers=len(handles)) as pool:
        for stopping in [pool.submit(handle.stop) for handle in handles.values()]:
            stopping.result()
    state_path(data_dir).unlink(missing_ok=True)
    return running


def status(data_dir: Path) -> list[ServiceStatus]:
    """Each service of the stack with its URL and whether it runs and answers its health check."""
    stack = read_stack(data_dir) or Stack(data_dir=Path(data_dir).resolve())
    urls = {
        "seaweedfs": stack.seaweedfs.endpoint_url if stack.seaweedfs else None,
        "ray": stack.ray.dashboard_url if stack.ray else None,
        "mlflow": stack.mlflow.tracking_uri if stack.mlflow else None,
    }
    statuses = []
    for name, handle in stack.services().items():
        running = _running(handle)
        statuses.append(
            ServiceStatus(
                name=name,
                url=urls[name],
                pid=handle.pid if handle is not None else None,
                running=running,
                healthy=running and _answers(handle),
            )
        )
    return statuses


def _answers(handle: SeaweedFS | RayHead | MlflowServer, attempts: int = 3, pause_s: float = 1.0) -> bool:
    """The service's health check, tried again after a pause: one slow answer on a busy machine is no outage."""
    for attempt in range(attempts):
        if handle.is_healthy():
            return True
        if attempt + 1 < attempts:
            time.sleep(pause_s)
    return False

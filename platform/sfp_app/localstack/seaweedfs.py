"""A SeaweedFS S3 endpoint on 127.0.0.1: `weed mini` (master, volume, filer and S3 gateway in one process).

Every port `weed mini` opens is chosen free, so two instances or a busy default port never clash. The S3
gateway accepts requests signed with one identity (`access_key`/`secret_key`, admin rights); anything else is
rejected. The keys are for local tests only.

    server = start_seaweedfs(tmp_path, buckets=["sfp-test"])
    os.environ.update(server.env())   # boto3, s3fs and mlflow now talk to it
    ...
    server.stop()
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from sfp.errors import SfpError
from sfp_app.localstack.processes import (
    HEALTH_TIMEOUT_S,
    find_executable,
    free_port,
    log_tail,
    pid_runs,
    spawn,
    stop_recorded,
    wait_until,
)

LOCAL_ACCESS_KEY = "sfp-local-access-key"
LOCAL_SECRET_KEY = "sfp-local-secret-key-for-tests-only"
LOCAL_REGION = "us-east-1"

# `weed mini`'s admin worker dials the admin gRPC port at admin HTTP port + 10000 whatever -admin.port.grpc says
# (SeaweedFS 4.48); we keep that convention for the admin server so the worker finds it.
_GRPC_OFFSET = 10000
_HTTP_SERVICES = ("master", "volume", "filer", "s3")
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes


@dataclass
class SeaweedFS:
    """A running `weed mini`: where its S3 endpoint is, how to sign for it, how to stop it."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    pid: int
    data_dir: Path
    log_path: Path
    ports: dict[str, int]
    _process: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point boto3, s3fs (via botocore) and MLflow at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url,
        }

    def client(self) -> Any:
        """A boto3 S3 client signed with this server's keys."""
        return s3_client(self.endpoint_url, self.access_key, self.secret_key, self.region)

    def is_running(self) -> bool:
        if self._process is not None:
            self._process.poll()
        return pid_runs(self.pid, str(self.data_dir / "data"))

    def is_healthy(self) -> bool:
        return self.is_running() and s3_answers(self.endpoint_url, self.access_key, self.secret_key, self.region)

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        """Return once a signed request succeeds; raise `SfpError` with the log's tail if none does in time."""
        if not wait_until(self.is_healthy, timeout=timeout, alive=self.is_running):
            state = "exited" if not self.is_running() else f"did not answer within {timeout:.0f} s"
            tail = log_tail(self.log_path)
            raise SfpError(f"SeaweedFS at {self.endpoint_url} {state}; end of {self.log_path}:\n{tail}")

    def create_buckets(self, buckets: Sequence[str]) -> None:
        """Create each bucket that does not exist yet."""
        client = self.client()
        existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
        for bucket in buckets:
            if bucket not in existing:
                client.create_bucket(Bucket=bucket)

    def stop(self, timeout: float = 30.0) -> None:
        """Terminate the server's process group and wait until none of its processes is left."""
        stop_recorded(self.pid, ours=self.is_running(), timeout=timeout, process=self._process)
        remove_grpc_sockets(self.ports.values())

    def to_record(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint_url,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region": self.region,
            "pid": self.pid,
            "data_dir": str(self.data_dir),
            "log_path": str(self.log_path),
            "ports": dict(self.ports),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SeaweedFS:
        """The handle of a server started by another process (e.g. `sfp stack up`), as `to_record` wrote it."""
        return cls(
            endpoint_url=record["endpoint_url"],
            access_key=record["access_key"],
            secret_key=record["secret_key"],
            region=record["region"],
            pid=int(record["pid"]),
            data_dir=Path(record["data_dir"]),
            log_path=Path(record["log_path"]),
            ports={name: int(port) for name, port in record["ports"].items()},
        )


def s3_client(
    endpoint_url: str, access_key: str, secret_key: str, region: str = LOCAL_REGION, *, probe: bool = False
) -> Any:
    """A boto3 S3 client for `endpoint_url`; `probe=True` gives short timeouts and no retries (health checks)."""
    import boto3
    from botocore.config import Config

    if probe:
        config = Config(connect_timeout=1, read_timeout=HEALTH_TIMEOUT_S, retries={"max_attempts": 0})
    else:
        config = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2})
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=config,
    )


def s3_answers(endpoint_url: str, access_key: str, secret_key: str, region: str = LOCAL_REGION) -> bool:
    """True if a signed `ListBuckets` succeeds."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3_client(endpoint_url, access_key, secret_key, region, probe=True).list_buckets()
    except (BotoCoreError, ClientError):
        return False
    return True


def remove_grpc_sockets(ports: Iterable[int]) -> None:
    """Remove the unix sockets weed leaves in /tmp (`/tmp/seaweedfs-<service>-grpc-<port>.sock`, path fixed)."""
    for port in ports:
        for path in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
            if path.is_socket():
                path.unlink(missing_ok=True)


def write_identities(path: Path, access_key: str, secret_key: str) -> Path:
    """The S3 gateway's identities file (`-s3.config`): one admin identity with the given keys."""
    identities = {
        "identities": [
            {
                "name": "sfp-local",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(identities, indent=2))
    path.chmod(0o600)
    return path


def choose_ports(host: str, s3_port: int | None) -> dict[str, int]:
    """A free port for every listener of `weed mini`: HTTP and gRPC of each service, and the admin server."""
    ports: dict[str, int] = {}
    taken: list[int] = []

    def pick(name: str, offsets: Sequence[int] = ()) -> None:
        ports[name] = free_port(host, also_free_at=offsets, exclude=taken)
        taken.extend([ports[name], *(ports[name] + offset for offset in offsets)])

    if s3_port is not None:
        ports["s3"] = s3_port
        taken.append(s3_port)
    for service in _HTTP_SERVICES:
        if service not in ports:
            pick(service)
        pick(f"{service}.grpc")
    pick("admin", offsets=(_GRPC_OFFSET,))
    ports["admin.grpc"] = ports["admin"] + _GRPC_OFFSET
    return ports


def weed_command(data_dir: Path, host: str, ports: dict[str, int], identities: Path) -> list[str]:
    options = {
        "dir": str(data_dir / "data"),
        "ip": host,
        "ip.bind": host,
        "master.telemetry": "false",
        "s3.config": str(identities),
        "s3.port.iceberg": "0",  # 0 disables the Iceberg catalog and Lance listeners
        "s3.port.lance": "0",
        "webdav": "false",
        "admin.ui": "false",
    }
    for service in ("s3", "filer"):
        socket_path = data_dir / f"{service}.sock"
        if len(str(socket_path)) < _MAX_SOCKET_PATH:  # else weed's default, /tmp/seaweedfs-<service>-<port>.sock
            options[f"{service}.localSocket"] = str(socket_path)
    for name, port in ports.items():
        service, _, grpc = name.partition(".")  # "filer" -> -filer.port, "filer.grpc" -> -filer.port.grpc
        options[f"{service}.port.grpc" if grpc else f"{service}.port"] = str(port)
    # -logtostderr: the log goes to our log file, not to weed.* files in /tmp
    flags = [f"-{key}={value}" for key, value in options.items()]
    return [str(find_executable("weed")), "-logtostderr", "mini", *flags]


def launch_seaweedfs(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    s3_port: int | None = None,
    access_key: str = LOCAL_ACCESS_KEY,
    secret_key: str = LOCAL_SECRET_KEY,
    region: str = LOCAL_REGION,
) -> SeaweedFS:
    """Start `weed mini` storing into `data_dir` and return at once; `wait_until_ready` waits for S3."""
    data_dir = Path(data_dir).resolve()
    (data_dir / "data").mkdir(parents=True, exist_ok=True)
    identities = write_identities(data_dir / "s3-identities.json", access_key, secret_key)
    ports = choose_ports(host, s3_port)
    log_path = data_dir / "weed.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    process = spawn(weed_command(data_dir, host, ports, identities), log_path=log_path, env=env)
    return SeaweedFS(
        endpoint_url=f"http://{host}:{ports['s3']}",
        access_key=access_key,
        secret_key=secret_key,
        region=region,
        pid=process.pid,
        data_dir=data_dir,
        log_path=log_path,
        ports=ports,
        _process=process,
    )


def start_seaweedfs(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    s3_port: int | None = None,
    buckets: Sequence[str] = (),
    access_key: str = LOCAL_ACCESS_KEY,
    secret_key: str = LOCAL_SECRET_KEY,
    region: str = LOCAL_REGION,
    timeout: float = 60.0,
) -> SeaweedFS:
    """Start `weed mini` storing into `data_dir`, wait until S3 answers, create `buckets`; return its handle.

    `s3_port=None` picks a free port. Raises `SfpError` with the tail of the server log if S3 does not answer
    within `timeout` seconds (the server is stopped first). A server that exits at once is started again on
    fresh ports: another process can take a free port between our pick and weed's bind.
    """
    attempts = 1 if s3_port is not None else 3
    for attempt in range(attempts):
        server = launch_seaweedfs(
            data_dir, host=host, s3_port=s3_port, access_key=access_key, secret_key=secret_key, region=region
        )
        try:
            server.wait_until_ready(timeout)
            server.create_buckets(buckets)
            return server
        except SfpError:
            server.stop()
            if attempt + 1 == attempts:
                raise
        except BaseException:
            server.stop()
            raise
    raise SfpError("SeaweedFS did not start")

"""The local stack: `up` starts SeaweedFS, Ray and MLflow; MLflow artifacts land in S3; `down` leaves nothing."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from sfp_app.cli import stack as stack_cli
from sfp.errors import SfpError
from sfp_app.localstack.processes import free_port, group_members, pid_alive, processes_with_option
from sfp_app.localstack.stack import STATE_FILE, StackConfig, down, format_exports, read_stack, status, up


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="sfp")
    stack_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["stack", *argv])
    return args.handler(args)


def test_status_without_a_stack_reports_every_service_down(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert [(s.name, s.running, s.healthy) for s in status(tmp_path)] == [
        ("seaweedfs", False, False),
        ("ray", False, False),
        ("mlflow", False, False),
    ]
    assert run_cli("status", "--data-dir", str(tmp_path), "--json") == 1
    assert json.loads(capsys.readouterr().out)["healthy"] is False
    assert down(tmp_path) == []
    with pytest.raises(SfpError, match="sfp stack up"):
        run_cli("env", "--data-dir", str(tmp_path))


def test_format_exports_quotes_values_for_the_shell() -> None:
    assert format_exports({"B": "two words", "A": "x"}) == "export A=x\nexport B='two words'"


def test_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = StackConfig(data_dir=tmp_path, s3_port=busy.getsockname()[1])
        with pytest.raises(SfpError, match=rf"port {busy.getsockname()[1]} .*\(S3\) is in use"):
            up(config)
    assert not (tmp_path / STATE_FILE).exists()


@pytest.mark.slow
def test_up_status_artifact_up_again_down(tmp_path: Path, capsys: pytest.CaptureFixture, no_local_ray: None) -> None:
    from mlflow.tracking import MlflowClient

    data_dir = tmp_path / "stack"
    config = StackConfig(
        data_dir=data_dir,
        s3_port=free_port(),
        ray_dashboard_port=free_port(),
        mlflow_port=free_port(),
        ray_num_cpus=1,
        ray_object_store_memory=100 * 2**20,
    )
    stack, started = up(config)
    pids: list[int] = []
    try:
        assert started == ["seaweedfs", "ray", "mlflow"]
        pids = sorted({pid for handle in stack.services().values() for pid in group_members(handle.pid)})
        assert json.loads((data_dir / STATE_FILE).read_text())["services"]["mlflow"]["pid"] == stack.mlflow.pid

        assert [(s.name, s.url, s.healthy) for s in status(data_dir)] == [
            ("seaweedfs", f"http://127.0.0.1:{config.s3_port}", True),
            ("ray", f"http://127.0.0.1:{config.ray_dashboard_port}", True),
            ("mlflow", f"http://127.0.0.1:{config.mlflow_port}", True),
        ]
        assert run_cli("status", "--data-dir", str(data_dir)) == 0
        capsys.readouterr()
        assert run_cli("env", "--data-dir", str(data_dir)) == 0
        exports = capsys.readouterr().out
        assert f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{config.mlflow_port}\n" in exports
        assert f"export RAY_API_SERVER_ADDRESS=http://127.0.0.1:{config.ray_dashboard_port}\n" in exports
        assert f"export AWS_ENDPOINT_URL_S3=http://127.0.0.1:{config.s3_port}\n" in exports

        # A client with no S3 credentials logs an artifact; the server's proxy stores it in SeaweedFS.
        client = MlflowClient(tracking_uri=stack.mlflow.tracking_uri, registry_uri=stack.mlflow.tracking_uri)
        experiment_id = client.create_experiment("stack-test")
        run = client.create_run(experiment_id)
        artifact = tmp_path / "metrics.txt"
        artifact.write_text("top1=0.75\n")
        client.log_artifact(run.info.run_id, str(artifact))
        client.set_terminated(run.info.run_id)
        key = f"artifacts/{experiment_id}/{run.info.run_id}/artifacts/metrics.txt"
        stored = stack.seaweedfs.client().get_object(Bucket="sfp-mlflow", Key=key)["Body"].read()
        assert stored == b"top1=0.75\n"
        assert {b["Name"] for b in stack.seaweedfs.client().list_buckets()["Buckets"]} >= {"sfp-data", "sfp-mlflow"}

        again, started_again = up(config)
        assert started_again == []
        assert {n: h.pid for n, h in again.services().items()} == {n: h.pid for n, h in stack.services().items()}
    finally:
        stopped = down(data_dir)
        shutil.rmtree(stack.ray.temp_dir, ignore_errors=True)

    assert stopped == ["seaweedfs", "ray", "mlflow"]
    assert read_stack(data_dir) is None
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert all(group_members(handle.pid) == [] for handle in stack.services().values())
    assert processes_with_option(f"{stack.ray.temp_dir}/") == []

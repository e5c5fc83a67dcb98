"""The SeaweedFS test server: a real S3 endpoint that boto3 and s3fs reach through the standard AWS variables."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions
import pytest
import s3fs

from sfp_app.localstack.processes import group_members, pid_alive, port_is_free
from sfp_app.localstack.seaweedfs import SeaweedFS, s3_client, start_seaweedfs

BUCKET = "sfp-test"


def test_boto3_writes_and_reads_an_object(s3_env: SeaweedFS) -> None:
    import boto3

    client = boto3.client("s3")  # endpoint, keys and region from the environment only
    payload = bytes(range(256)) * 1000
    client.put_object(Bucket=BUCKET, Key="boto3/blob.bin", Body=payload)

    assert client.get_object(Bucket=BUCKET, Key="boto3/blob.bin")["Body"].read() == payload
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="boto3/")["Contents"]
    assert [(item["Key"], item["Size"]) for item in listed] == [("boto3/blob.bin", 256_000)]


def test_s3fs_uses_the_s3_endpoint_variable_by_itself(s3_env: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> None:
    # s3fs 2026.9 passes no endpoint of its own; botocore reads AWS_ENDPOINT_URL_S3, so no client_kwargs needed.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL")
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.pipe(f"{BUCKET}/s3fs/a.txt", b"written by s3fs")

    with fs.open(f"{BUCKET}/s3fs/a.txt", "rb") as handle:
        assert handle.read() == b"written by s3fs"
    assert fs.ls(f"{BUCKET}/s3fs", detail=False) == [f"{BUCKET}/s3fs/a.txt"]
    # the same object through boto3: both clients talk to the one server
    assert s3_env.client().get_object(Bucket=BUCKET, Key="s3fs/a.txt")["Body"].read() == b"written by s3fs"


def test_requests_signed_with_other_keys_are_rejected(s3_server: SeaweedFS) -> None:
    stranger = s3_client(s3_server.endpoint_url, "not-the-key", "not-the-secret-either")
    with pytest.raises(botocore.exceptions.ClientError) as error:
        stranger.list_objects_v2(Bucket=BUCKET)
    assert error.value.response["Error"]["Code"] in {"InvalidAccessKeyId", "AccessDenied", "SignatureDoesNotMatch"}


def test_env_names_the_standard_aws_variables(s3_server: SeaweedFS) -> None:
    env = s3_server.env()
    assert env["AWS_ENDPOINT_URL_S3"] == env["AWS_ENDPOINT_URL"] == s3_server.endpoint_url
    assert s3_server.endpoint_url.startswith("http://127.0.0.1:")
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (s3_server.access_key, s3_server.secret_key)
    assert env["AWS_DEFAULT_REGION"] == s3_server.region


def test_stop_leaves_no_process_and_frees_the_port(tmp_path: Path) -> None:
    server = start_seaweedfs(tmp_path, buckets=["one", "two"])
    assert {bucket["Name"] for bucket in server.client().list_buckets()["Buckets"]} == {"one", "two"}
    assert group_members(server.pid) == [server.pid]

    server.stop()

    assert not pid_alive(server.pid)
    assert group_members(server.pid) == []
    assert port_is_free(server.ports["s3"])
    assert not list(Path("/tmp").glob(f"seaweedfs-*-grpc-{server.ports['s3.grpc']}.sock"))

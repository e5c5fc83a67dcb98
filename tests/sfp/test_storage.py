import pytest

from sfp import storage
from sfp.errors import StorageError


def test_parse_uri_forms(tmp_path):
    assert storage.parse_uri("s3://bucket/a/b/").uri == "s3://bucket/a/b"
    assert storage.parse_uri("s3://bucket/a").scheme == "s3"
    assert storage.parse_uri(f"file://{tmp_path}").path == str(tmp_path)
    assert storage.parse_uri(str(tmp_path)).is_local
    assert storage.join_uri("s3://bucket/a", "b", "c.json") == "s3://bucket/a/b/c.json"
    assert storage.parent_uri("s3://bucket/a/b.csv") == "s3://bucket/a"


@pytest.mark.parametrize("uri", ["gs://bucket/x", "s3://", ""])
def test_bad_uris_are_clear_errors(uri):
    with pytest.raises(StorageError):
        storage.parse_uri(uri)


def test_atomic_write_and_read_local(tmp_path):
    uri = str(tmp_path / "deep" / "file.txt")
    storage.write_text(uri, "hello")
    assert storage.read_text(uri) == "hello"
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["file.txt"]  # no temporary left behind
    with pytest.raises(StorageError, match="not found"):
        storage.read_bytes(str(tmp_path / "missing"))


def test_unreachable_s3_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StorageError, match="s3://bucket/key"):
        storage.read_bytes("s3://bucket/key")

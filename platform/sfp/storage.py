"""Storage locations as URIs: a local path, `file://...` or `s3://bucket/prefix`.

S3 endpoint and credentials come from the standard AWS environment variables and config files
(`AWS_ACCESS_KEY_ID`, `AWS_PROFILE`, instance roles, ...). For S3-compatible stores the endpoint is taken from
`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`. Credentials are never part of a URI, never printed, never logged.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator
from urllib.parse import urlparse

import fsspec
import pyarrow.fs

from sfp.errors import StorageError

SUPPORTED_SCHEMES = ("", "file", "s3")


@dataclass(frozen=True)
class Location:
    """A parsed URI: `scheme` is "file" or "s3", `path` is what the filesystem object takes."""

    scheme: str
    path: str

    @property
    def uri(self) -> str:
        return f"s3://{self.path}" if self.scheme == "s3" else self.path

    def join(self, *parts: str) -> "Location":
        return Location(self.scheme, posixpath.join(self.path, *parts))

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"


def parse_uri(uri: str | os.PathLike) -> Location:
    text = os.fspath(uri)
    if not text:
        raise StorageError("empty storage location")
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    if scheme not in SUPPORTED_SCHEMES:
        raise StorageError(f"{text}: unsupported storage scheme {scheme!r} (use a local path, file:// or s3://)")
    if scheme == "s3":
        if not parsed.netloc:
            raise StorageError(f"{text}: an s3:// URI needs a bucket (s3://bucket/prefix)")
        return Location("s3", f"{parsed.netloc}{parsed.path}".rstrip("/"))
    path = parsed.path if scheme == "file" else text
    return Location("file", str(Path(path).expanduser().absolute()))


def join_uri(uri: str, *parts: str) -> str:
    return parse_uri(uri).join(*parts).uri


def parent_uri(uri: str) -> str:
    location = parse_uri(uri)
    return Location(location.scheme, posixpath.dirname(location.path)).uri


def s3_endpoint_from_env() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def s3_storage_options() -> dict:
    """Options for s3fs: the endpoint override for S3-compatible stores, retries for transient errors."""
    options: dict = {}
    if "AWS_MAX_ATTEMPTS" not in os.environ:  # the standard variable wins when set
        options["config_kwargs"] = {"retries": {"max_attempts": 8, "mode": "adaptive"}}
    endpoint = s3_endpoint_from_env()
    if endpoint:
        options["endpoint_url"] = endpoint
    return options


def filesystem(location: Location) -> fsspec.AbstractFileSystem:
    if location.scheme == "s3":
        return fsspec.filesystem("s3", **s3_storage_options())
    return fsspec.filesystem("file")


def open_location(uri: str) -> tuple[fsspec.AbstractFileSystem, Location]:
    location = parse_uri(uri)
    return filesystem(location), location


def pyarrow_filesystem(uri: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """A pyarrow filesystem and path for Ray Data and Ray Train `storage_filesystem` arguments."""
    location = parse_uri(uri)
    if location.scheme == "s3":
        handler = pyarrow.fs.FSSpecHandler(filesystem(location))
        return pyarrow.fs.PyFileSystem(handler), location.path
    return pyarrow.fs.LocalFileSystem(), location.path


def _describe(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]


def exists(uri: str) -> bool:
    fs, location = open_location(uri)
    try:
        return fs.exists(location.path)
    except Exception as error:  # network, auth, endpoint errors
        raise StorageError(f"{uri}: cannot reach storage ({_describe(error)})") from None


def read_bytes(uri: str) -> bytes:
    fs, location = open_location(uri)
    try:
        return fs.cat_file(location.path)
    except FileNotFoundError:
        raise StorageError(f"{uri}: not found") from None
    except Exception as error:
        raise StorageError(f"{uri}: cannot read ({_describe(error)})") from None


def read_text(uri: str) -> str:
    return read_bytes(uri).decode()


def write_bytes(uri: str, data: bytes) -> None:
    """Write a whole object atomically: readers see the old object, or the new one, never a part.

    Locally this writes a temporary file beside the target and renames it; an S3 PUT is atomic by itself.
    """
    fs, location = open_location(uri)
    try:
        if location.is_local:
            target = Path(location.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, target)
        else:
            fs.pipe_file(location.path, data)
    except StorageError:
        raise
    except Exception as error:
        raise StorageError(f"{uri}: cannot write ({_describe(error)})") from None


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode())


@contextmanager
def atomic_local_path(uri: str) -> Iterator[Path]:
    """Yield a local temporary path to write; on success it is moved (or uploaded) to `uri` in one step."""
    import tempfile

    location = parse_uri(uri)
    if location.is_local:
        target = Path(location.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            yield temporary
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        return
    with tempfile.TemporaryDirectory(prefix="sfp-upload-") as folder:
        temporary = Path(folder) / posixpath.basename(location.path)
        yield temporary
        try:
            filesystem(location).put_file(str(temporary), location.path)
        except Exception as error:
            raise StorageError(f"{uri}: cannot upload ({_describe(error)})") from None


def list_files(uri: str, suffix: str = "") -> list[str]:
    """URIs of the files directly under a prefix, sorted; an absent prefix lists as empty."""
    fs, location = open_location(uri)
    try:
        if not fs.exists(location.path):
            return []
        names = fs.ls(location.path, detail=False)
    except Exception as error:
        raise StorageError(f"{uri}: cannot list ({_describe(error)})") from None
    prefix = "s3://" if location.scheme == "s3" else ""
    return sorted(f"{prefix}{name}" for name in names if name.endswith(suffix))


@contextmanager
def open_for_read(uri: str) -> Iterator[IO[bytes]]:
    fs, location = open_location(uri)
    try:
        handle = fs.open(location.path, "rb")
    except FileNotFoundError:
        raise StorageError(f"{uri}: not found") from None
    except Exception as error:
        raise StorageError(f"{uri}: cannot open ({_describe(error)})") from None
    with handle:
        yield handle


def open_ranged(uri: str) -> IO[bytes]:
    """Open a file for random access where every read fetches exactly the bytes it asks for: on S3 one ranged GET
    per read, no read-ahead (s3fs's default cache fetches 50 MiB from wherever it is asked to read). Callers that
    read many small pieces coalesce them themselves (Parquet's `pre_buffer` does). On S3 the first read also sends
    one HEAD (s3fs checks the object's ETag on every read); a missing file raises `FileNotFoundError`."""
    location = parse_uri(uri)
    if location.is_local:
        return open(location.path, "rb")
    return filesystem(location).open(location.path, "rb", cache_type="none")


def remove(uri: str, recursive: bool = False) -> None:
    fs, location = open_location(uri)
    if fs.exists(location.path):
        fs.rm(location.path, recursive=recursive)

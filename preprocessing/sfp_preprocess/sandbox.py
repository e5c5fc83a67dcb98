"""Running ffmpeg and ffprobe on untrusted videos: only local files through the `file` protocol, or an S3 object
through a URL we signed ourselves (`SignedUrl`: http/https only, never a name from a manifest), only container
demuxers (no playlists, concat lists, image sequences, devices), a wall-clock limit and an address-space limit per
process. Output is streamed, so a long movie is never held in memory at once.

A signed URL's query string is a credential for its lifetime: it is cut from every reason and log line
(`redact`). A failure of the network or the storage under a signed URL (refused or reset connections, timeouts,
HTTP error replies) is a `TransientReadError`, never a `DecodeError`: it says nothing about the video."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from typing import Iterator

# Demuxers of real video containers; everything else (concat, hls, image2, lavfi, ...) is refused.
CONTAINER_DEMUXERS = (
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "avi",
    "flv",
    "mpegts",
    "mpeg",
    "ogg",
    "asf",
    "h264",
    "hevc",
)


class DecodeError(Exception):
    """A clip that cannot be stored; `stage` (locate | probe | decode) says where it failed."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


class TransientReadError(Exception):
    """ffmpeg/ffprobe could not read a remote source for the network's or the storage's reasons (not the video's)."""


class SignedUrl(str):
    """An http(s) URL to one object that this code signed (`locate`); the only kind of name ffmpeg may open over
    the network. A plain `str`, whatever it looks like, is a local file name."""


# ffmpeg's words for a failure of the transport, not of the data (av_strerror texts and the http protocol's replies)
_NETWORK_FAILURE = re.compile(
    r"Server returned|Connection (refused|reset|timed out)|timed out|Network is unreachable|No route to host|"
    r"Host is unreachable|Broken pipe|Input/output error|Failed to resolve|Name or service not known|"
    r"Temporary failure in name resolution|Error in the pull function|end of file reached while reading headers",
    re.IGNORECASE,
)
_QUERY = re.compile(r"(https?://[^\s?]*)\?[^\s:]*")
HTTP_READ_TIMEOUT_SEC = 30  # a read that stalls this long fails (and is retried by ffmpeg's reconnect, then by us)
RECONNECT_DELAY_MAX_SEC = 8  # ffmpeg's reconnects wait 1, 2, 4, 8 s, then the error is ours to retry


def redact(text: str) -> str:
    """`text` with every URL's query string (a presigned URL's signature) replaced by `?<signed>`."""
    return _QUERY.sub(r"\1?<signed>", text)


def safe_input(path: str) -> tuple[str, dict[str, str]]:
    """The input argument and options that confine ffmpeg/ffprobe to one local file (or one `SignedUrl`) in a
    container format.

    `file:` in front of an absolute path: a name such as `http:x.mp4` stays a file name. A signed URL is read with
    range requests (seeking reads only the span needed, an index at the end of an mp4 included) and reconnects."""
    options = {"protocol_whitelist": "file", "format_whitelist": ",".join(CONTAINER_DEMUXERS)}
    if isinstance(path, SignedUrl):
        options = {**options, "protocol_whitelist": "http,https,tcp,tls", "reconnect": "1",
                   "reconnect_streamed": "1", "reconnect_on_network_error": "1", "reconnect_delay_max": str(RECONNECT_DELAY_MAX_SEC),
                   "rw_timeout": str(HTTP_READ_TIMEOUT_SEC * 1_000_000)}
        return str(path), options
    return "file:" + os.path.abspath(path), options


def limited(command: list[str], max_memory_mb: int) -> list[str]:
    """`command` under an address-space limit (`ulimit -v` in a shell that then execs it: no pre-exec hook in a
    threaded worker). Allocations beyond it fail inside ffmpeg, which exits with an error."""
    return ["sh", "-c", 'ulimit -v "$0" && exec "$@"', str(max_memory_mb * 1024), *command]


def _last_line(stream: "tempfile._TemporaryFileWrapper[bytes]", returncode: int) -> str:
    stream.seek(0)
    lines = [line for line in stream.read().decode(errors="replace").splitlines() if line.strip()]
    return redact(lines[-1] if lines else f"exited with status {returncode}")[:300]


def stream_output(
    command: list[str], *, stage: str, timeout_sec: float, max_memory_mb: int, chunk_bytes: int = 1 << 20
) -> Iterator[bytes]:
    """Run `command` with the limits and yield its standard output as it comes.

    Raises DecodeError(stage, ...) when it runs past `timeout_sec` (it is killed), or exits non-zero (the reason
    is the last line ffmpeg wrote on standard error, redacted), TransientReadError when that line is a failure of
    the transport; data already yielded stays valid. Leaving the loop early kills the process."""
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(
                limited(command, max_memory_mb), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
            )
        except FileNotFoundError:
            raise DecodeError(stage, f"{command[0]} is not installed (apt-get install -y ffmpeg)") from None
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout_sec, expire)
        timer.daemon = True
        timer.start()
        try:
            assert process.stdout is not None
            while chunk := process.stdout.read1(chunk_bytes):
                yield chunk
            process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()
        if timed_out.is_set():
            raise DecodeError(stage, f"timed out after {timeout_sec:g} s")
        if process.returncode != 0:
            reason = _last_line(errors, process.returncode)
            if _NETWORK_FAILURE.search(reason):
                raise TransientReadError(f"{stage}: {reason}")
            raise DecodeError(stage, reason)


def run_output(command: list[str], *, stage: str, timeout_sec: float, max_memory_mb: int) -> bytes:
    """`stream_output`, collected."""
    return b"".join(stream_output(command, stage=stage, timeout_sec=timeout_sec, max_memory_mb=max_memory_mb))

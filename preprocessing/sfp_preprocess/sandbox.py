"""Running ffmpeg and ffprobe on untrusted videos: only local files through the `file` protocol, only container
demuxers (no playlists, concat lists, image sequences, devices or network protocols), a wall-clock limit and an
address-space limit per process. Output is streamed, so a long movie is never held in memory at once."""

from __future__ import annotations

import os
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


def safe_input(path: str) -> tuple[str, dict[str, str]]:
    """The input argument and options that confine ffmpeg/ffprobe to one local file in a container format.

    `file:` in front of an absolute path: a name such as `http:x.mp4` stays a file name."""
    options = {"protocol_whitelist": "file", "format_whitelist": ",".join(CONTAINER_DEMUXERS)}
    return "file:" + os.path.abspath(path), options


def limited(command: list[str], max_memory_mb: int) -> list[str]:
    """`command` under an address-space limit (`ulimit -v` in a shell that then execs it: no pre-exec hook in a
    threaded worker). Allocations beyond it fail inside ffmpeg, which exits with an error."""
    return ["sh", "-c", 'ulimit -v "$0" && exec "$@"', str(max_memory_mb * 1024), *command]


def _last_line(stream: "tempfile._TemporaryFileWrapper[bytes]", returncode: int) -> str:
    stream.seek(0)
    lines = [line for line in stream.read().decode(errors="replace").splitlines() if line.strip()]
    return (lines[-1] if lines else f"exited with status {returncode}")[:300]


def stream_output(
    command: list[str], *, stage: str, timeout_sec: float, max_memory_mb: int, chunk_bytes: int = 1 << 20
) -> Iterator[bytes]:
    """Run `command` with the limits and yield its standard output as it comes.

    Raises DecodeError(stage, ...) when it runs past `timeout_sec` (it is killed), or exits non-zero (the reason
    is the last line ffmpeg wrote on standard error); data already yielded stays valid. Leaving the loop early
    kills the process."""
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
            raise DecodeError(stage, _last_line(errors, process.returncode))


def run_output(command: list[str], *, stage: str, timeout_sec: float, max_memory_mb: int) -> bytes:
    """`stream_output`, collected."""
    return b"".join(stream_output(command, stage=stage, timeout_sec=timeout_sec, max_memory_mb=max_memory_mb))

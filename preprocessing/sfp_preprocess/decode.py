"""Decode one video (or a time window of it) into JPEG frames at a constant frame rate with ffmpeg.

ffmpeg-python builds the filter graph; the process runs with a time limit and an address-space limit, and the input
is opened with only the `file` protocol and only container demuxers, because scraped videos are untrusted:
no playlists, concat lists, image sequences or network protocols.
"""

from __future__ import annotations

import resource
import subprocess
from dataclasses import dataclass

import ffmpeg

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
    """A clip that cannot be decoded; `stage` says where it failed."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


@dataclass(frozen=True)
class DecodeParams:
    fps: float = 30.0
    short_side: int = 256
    jpeg_qscale: int = 4  # ffmpeg's mjpeg quantiser scale: 2 (best) .. 31 (worst)
    timeout_sec: float = 120.0
    max_memory_mb: int = 2048
    threads: int = 1


@dataclass
class DecodedClip:
    frames: list[bytes]
    timestamps: list[float]
    width: int
    height: int


def build_command(path: str, params: DecodeParams, start_sec: float | None, end_sec: float | None) -> list[str]:
    input_options: dict = {
        "protocol_whitelist": "file",
        "format_whitelist": ",".join(CONTAINER_DEMUXERS),
        "threads": params.threads,
    }
    if start_sec is not None and start_sec > 0:
        input_options["ss"] = f"{start_sec:.6f}"
    if end_sec is not None:
        input_options["t"] = f"{end_sec - (start_sec or 0.0):.6f}"
    side = params.short_side
    stream = (
        ffmpeg.input(path, **input_options)  # autorotate (default on) makes frames upright before the filters
        .video.filter("fps", fps=params.fps, round="near")
        # short side to `side`, the other keeps the aspect ratio, rounded to an even number
        .filter("scale", w=f"if(lt(iw,ih),{side},-2)", h=f"if(lt(iw,ih),-2,{side})", flags="bicubic")
        .filter("format", "yuvj420p")
    )
    output = stream.output(
        "pipe:",
        format="image2pipe",
        vcodec="mjpeg",
        **{"q:v": params.jpeg_qscale, "threads": params.threads, "an": None, "sn": None, "dn": None},
    )
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"] + output.get_args()


def split_jpeg_stream(data: bytes) -> list[bytes]:
    """Split ffmpeg's concatenated JPEG output into frames by walking the JPEG markers.

    Header segments are skipped by their length; in entropy-coded data, 0xFF is always followed by 0x00 or a restart
    marker, so the first other marker after the scan is the end of the image.
    """
    frames: list[bytes] = []
    position, size = 0, len(data)
    while position + 4 <= size:
        if data[position : position + 2] != b"\xff\xd8":
            raise DecodeError("decode", f"corrupt JPEG stream at byte {position}")
        cursor = position + 2
        while True:
            if cursor + 4 > size:
                raise DecodeError("decode", "truncated JPEG stream")
            marker = data[cursor + 1]
            length = int.from_bytes(data[cursor + 2 : cursor + 4], "big")
            cursor += 2 + length
            if marker == 0xDA:  # start of scan: entropy-coded data follows
                break
        while True:
            cursor = data.find(b"\xff", cursor)
            if cursor < 0 or cursor + 1 >= size:
                raise DecodeError("decode", "truncated JPEG stream")
            following = data[cursor + 1]
            if following == 0xD9:
                cursor += 2
                break
            cursor += 2 if (following == 0x00 or 0xD0 <= following <= 0xD7) else 1
        frames.append(data[position:cursor])
        position = cursor
    return frames


def _jpeg_size(jpeg: bytes) -> tuple[int, int]:
    cursor = 2
    while cursor + 9 < len(jpeg):
        marker = jpeg[cursor + 1]
        length = int.from_bytes(jpeg[cursor + 2 : cursor + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(jpeg[cursor + 5 : cursor + 7], "big")
            width = int.from_bytes(jpeg[cursor + 7 : cursor + 9], "big")
            return width, height
        cursor += 2 + length
    raise DecodeError("decode", "JPEG frame without a size")


def _limit_memory(max_bytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))

    return apply


def decode_clip(
    path: str, params: DecodeParams, start_sec: float | None = None, end_sec: float | None = None
) -> DecodedClip:
    """Decode `path` (a local file) to JPEG frames at `params.fps`, short side `params.short_side`."""
    command = build_command(path, params, start_sec, end_sec)
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            timeout=params.timeout_sec,
            preexec_fn=_limit_memory(params.max_memory_mb * 1024 * 1024),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DecodeError("decode", f"timed out after {params.timeout_sec:.0f} s") from None
    except FileNotFoundError:
        raise DecodeError("decode", "ffmpeg is not installed (apt-get install -y ffmpeg)") from None
    if completed.returncode != 0:
        message = completed.stderr.decode(errors="replace").strip().splitlines()
        reason = message[-1] if message else f"ffmpeg exited with {completed.returncode}"
        raise DecodeError("decode", reason[:300])
    frames = split_jpeg_stream(completed.stdout)
    if not frames:
        raise DecodeError("decode", "no video frames decoded (no video stream, or an empty window)")
    width, height = _jpeg_size(frames[0])
    timestamps = [index / params.fps for index in range(len(frames))]
    return DecodedClip(frames=frames, timestamps=timestamps, width=width, height=height)

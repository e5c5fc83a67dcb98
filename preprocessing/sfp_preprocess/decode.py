"""Decode one video (or a time window of it) into JPEG frames at a constant frame rate with ffmpeg.

The frames are on an exact grid: frame `i` of a window starting at `t0` is the source frame shown at
`t0 + i / fps` (duplicated or dropped as the source's frame rate requires, so variable frame rates come out
constant), and a window of `d` seconds has exactly `round(d * fps)` frames, fewer only when the video is shorter.
Rotation metadata is applied (portrait videos come out portrait), every pixel format becomes 8-bit full-range
JPEG, and the short side is scaled to `short_side`. A long window is returned in rows of `frames_per_row` frames
as it is decoded, so a movie is never held in memory at once.

A damaged file (cut short by a failed download or copy) often still probes as whole: its index states the full
duration, and ffmpeg decodes what is there without an error. A window that yields fewer than `TRUNCATED_BELOW` of
the frames the stated duration promises is a DecodeError "truncated: 137 of 300 frames" (rows of a long window
yielded before the end stay valid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import ffmpeg

from sfp_preprocess.jpegs import JpegSplitter, jpeg_size, split_jpeg_stream
from sfp_preprocess.probe import VideoInfo, probe_video
from sfp_preprocess.sandbox import CONTAINER_DEMUXERS, DecodeError, safe_input, stream_output

__all__ = ["CONTAINER_DEMUXERS", "TRUNCATED_BELOW", "DecodeError", "DecodeParams", "DecodedClip", "decode_clip",
           "decode_rows", "split_jpeg_stream"]


TRUNCATED_BELOW = 0.9  # share of the expected frames under which a source counts as truncated


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
    timestamps: list[float]  # seconds from `start_sec`
    width: int
    height: int
    start_sec: float = 0.0  # time of the first frame on the source's timeline
    first_frame: int = 0  # index of the first frame in the decoded window


def build_command(
    path: str, params: DecodeParams, info: VideoInfo, start_sec: float | None, end_sec: float | None
) -> list[str]:
    source, input_options = safe_input(path)
    input_options = {**input_options, "threads": params.threads}
    if start_sec is not None and start_sec > 0:
        input_options["ss"] = f"{start_sec:.6f}"
    if end_sec is not None:
        input_options["t"] = f"{end_sec - (start_sec or 0.0):.6f}"
    side = params.short_side
    stream = (
        ffmpeg.input(source, **input_options)[str(info.stream_index)]  # autorotate (on by default) runs first
        .filter("fps", fps=params.fps, round="near")
        # short side to `side`, the other keeps the aspect ratio, rounded to an even number
        .filter("scale", w=f"if(lt(iw,ih),{side},-2)", h=f"if(lt(iw,ih),-2,{side})", flags="bicubic")
        .filter("format", "yuvj420p")  # any pixel format (10-bit, 4:4:4, RGB, limited range) -> 8-bit full range
    )
    output_options: dict = {"q:v": params.jpeg_qscale, "threads": params.threads, "an": None, "sn": None, "dn": None}
    count = info.frame_count(start_sec, end_sec, params.fps)
    if count is not None:
        output_options["frames:v"] = count  # the fps filter may add one frame at the end of the stream
    output = stream.output("pipe:", format="image2pipe", vcodec="mjpeg", **output_options)
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"] + output.get_args()


def decode_rows(
    path: str,
    params: DecodeParams,
    info: VideoInfo,
    start_sec: float | None = None,
    end_sec: float | None = None,
    frames_per_row: int | None = None,
    timeout_sec: float | None = None,
    skip_frames: int = 0,
) -> Iterator[DecodedClip]:
    """Decode `[start_sec, end_sec)` of a probed local file, yielding rows of `frames_per_row` frames (the last one
    may be shorter) or, by default, one row with every frame. The first `skip_frames` frames are decoded and
    dropped: a window that starts a frame early and skips it has the frames of a longer window that reaches it
    (ffmpeg's fps filter chooses a window's first frame from the frames after the seek point only)."""
    if info.frame_count(start_sec, end_sec, params.fps) in {0, skip_frames}:
        raise DecodeError("decode", f"no video in the window [{start_sec}, {end_sec}) s")
    first_time = info.window(start_sec, end_sec)[0] + skip_frames / params.fps
    command = build_command(path, params, info, start_sec, end_sec)
    splitter, pending, emitted, skipped = JpegSplitter(), [], 0, 0

    def row(frames: list[bytes]) -> DecodedClip:
        width, height = jpeg_size(frames[0])
        return DecodedClip(
            frames=frames,
            timestamps=[index / params.fps for index in range(len(frames))],
            width=width,
            height=height,
            start_sec=first_time + emitted / params.fps,
            first_frame=emitted,
        )

    chunks = stream_output(
        command, stage="decode", timeout_sec=timeout_sec or params.timeout_sec, max_memory_mb=params.max_memory_mb
    )
    try:
        for chunk in chunks:
            for frame in splitter.feed(chunk):
                if skipped < skip_frames:
                    skipped += 1
                    continue
                pending.append(frame)
                if frames_per_row is not None and len(pending) == frames_per_row:
                    yield row(pending)
                    emitted, pending = emitted + len(pending), []
    finally:
        chunks.close()  # a consumer that stops early stops ffmpeg
    splitter.finish()
    expected, decoded = info.frame_count(start_sec, end_sec, params.fps), emitted + len(pending)
    expected = expected - skip_frames if expected else expected
    if decoded and expected and decoded < TRUNCATED_BELOW * expected:
        raise DecodeError("decode", f"truncated: {decoded} of {expected} frames")
    if pending:
        yield row(pending)
    elif emitted == 0:
        raise DecodeError("decode", "no video frames decoded")


def decode_clip(
    path: str, params: DecodeParams, start_sec: float | None = None, end_sec: float | None = None,
    info: VideoInfo | None = None,
) -> DecodedClip:
    """Probe (unless `info` is given) and decode `path` (a local file) to one clip of JPEG frames."""
    if info is None:
        info = probe_video(path, timeout_sec=params.timeout_sec, max_memory_mb=params.max_memory_mb)
    (clip,) = decode_rows(path, params, info, start_sec, end_sec)
    return clip

"""ffprobe one video: which stream to decode, how it is displayed, when it starts and how long it lasts.

The duration is what makes the frame count exact: at `fps` frames per second a window of `d` seconds has
`round(d * fps)` frames, whereas ffmpeg's fps filter may emit one more at the end of a stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sfp_preprocess.sandbox import DecodeError, run_output, safe_input


@dataclass(frozen=True)
class VideoInfo:
    stream_index: int  # the video stream to decode (cover art is skipped)
    codec: str
    pix_fmt: str
    width: int  # as displayed: rotation applied
    height: int
    rotation: int  # degrees, from the display matrix
    fps: float  # the stream's average frame rate; 0 when unknown
    start_sec: float  # where the video starts on the container's timeline (what `-ss` counts from)
    duration_sec: float | None  # None when the container does not say

    def window(self, start_sec: float | None, end_sec: float | None) -> tuple[float, float | None]:
        """`(first frame time, duration)` of the part of `[start, end)` that has video; the duration is None when
        the video's length is unknown."""
        begin = max(start_sec or 0.0, self.start_sec)
        if self.duration_sec is None:
            return begin, (end_sec - begin if end_sec is not None else None)
        finish = self.start_sec + self.duration_sec
        if end_sec is not None:
            finish = min(finish, end_sec)
        return begin, max(0.0, finish - begin)

    def frame_count(self, start_sec: float | None, end_sec: float | None, fps: float) -> int | None:
        """Frames of `[start, end)` at `fps`, or None when the video's length is unknown."""
        duration = self.window(start_sec, end_sec)[1]
        return None if duration is None else round(duration * fps)


def _rate(text: str | None) -> float:
    try:
        numerator, _, denominator = (text or "0/0").partition("/")
        return float(numerator) / float(denominator or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _tag_end(stream: dict) -> float | None:
    """Matroska writes where a stream ends as a `DURATION` tag, `HH:MM:SS.nnnnnnnnn` (from time 0)."""
    text = next((value for key, value in (stream.get("tags") or {}).items() if key.upper() == "DURATION"), None)
    try:
        hours, minutes, seconds = (text or "").split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _rotation(stream: dict) -> int:
    for side_data in stream.get("side_data_list") or []:
        if "rotation" in side_data:
            return int(round(float(side_data["rotation"]))) % 360
    return int(_float((stream.get("tags") or {}).get("rotate")) or 0) % 360


def parse_probe(data: dict) -> VideoInfo:
    videos = [
        stream
        for stream in data.get("streams") or []
        if stream.get("codec_type") == "video" and not (stream.get("disposition") or {}).get("attached_pic")
    ]
    if not videos:
        raise DecodeError("probe", "no video stream")
    stream, container = videos[0], data.get("format") or {}
    container_start = _float(container.get("start_time")) or 0.0
    stream_start = _float(stream.get("start_time"))
    start = max(0.0, stream_start - container_start) if stream_start is not None else 0.0
    duration = _float(stream.get("duration"))
    if duration is None and _tag_end(stream) is not None:
        duration = max(0.0, (_tag_end(stream) or 0.0) - (stream_start or 0.0))
    if duration is None and _float(container.get("duration")) is not None:
        duration = max(0.0, float(container["duration"]) - start)
    rotation = _rotation(stream)
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        stream_index=int(stream["index"]),
        codec=str(stream.get("codec_name", "?")),
        pix_fmt=str(stream.get("pix_fmt", "?")),
        width=width,
        height=height,
        rotation=rotation,
        fps=_rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate")),
        start_sec=start,
        duration_sec=duration,
    )


def probe_video(path: str, *, timeout_sec: float, max_memory_mb: int) -> VideoInfo:
    """Probe a local file; DecodeError at stage "probe" when it is not a video ffmpeg may open."""
    source, options = safe_input(path)
    command = ["ffprobe", "-v", "error"]
    for key, value in options.items():
        command += [f"-{key}", value]
    command += ["-show_streams", "-show_format", "-of", "json", source]
    output = run_output(command, stage="probe", timeout_sec=timeout_sec, max_memory_mb=max_memory_mb)
    try:
        return parse_probe(json.loads(output or b"{}"))
    except (ValueError, KeyError) as error:
        raise DecodeError("probe", f"unreadable ffprobe output ({error})") from None

"""Probe one video: which stream to decode, how it is displayed, when it starts and how long it lasts.

The duration is what makes the frame count exact: at `fps` frames per second a window of `d` seconds has
`round(d * fps)` frames, whereas ffmpeg's fps filter may emit one more at the end of a stream.

A local file is probed in this process with PyAV (libavformat, under the same protocol and demuxer whitelists as
ffmpeg): 2-8 CPU-ms, where an ffprobe process costs 60, of which 50 are its start (loading its shared libraries),
about a tenth of decoding a 10 s clip. PyAV's answer is put in ffprobe's JSON fields, at ffprobe's precision, and
read by the same `parse_probe`; a test holds the two equal on every kind of source the tests use. What PyAV cannot
read cleanly (damaged, not a video, a refused demuxer) and every signed URL go to ffprobe, in a process under the
time and memory limits: its verdict and its reason are the ones recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from sfp_preprocess.sandbox import DecodeError, SignedUrl, run_output, safe_input

MAX_PACKETS_FOR_ROTATION = 64  # packets read for a first frame (its display matrix) before leaving it to ffprobe


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
    """Probe a local file or a `SignedUrl`; DecodeError at stage "probe" when it is not a video ffmpeg may open."""
    if not isinstance(path, SignedUrl):
        data = probe_in_process(path)
        if data is not None:
            return parse_probe(data)
    return probe_with_ffprobe(path, timeout_sec=timeout_sec, max_memory_mb=max_memory_mb)


def _seconds(value: int | None, unit: Fraction) -> str | None:
    """A time as ffprobe's JSON writes it: seconds with 6 decimals; None where the container does not say."""
    return None if value is None else f"{float(value * unit):.6f}"


def _rate_text(rate: Fraction | None) -> str:
    return f"{rate.numerator}/{rate.denominator}" if rate else "0/0"


def _first_frame_rotation(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """The display matrix's rotation (counter-clockwise degrees, as ffprobe reports it) that libavcodec attaches to
    decoded frames; None when no frame decodes from the first packets."""
    stream.codec_context.thread_count = 1
    for number, packet in enumerate(container.demux(stream)):
        if number >= MAX_PACKETS_FOR_ROTATION:
            return None
        for frame in packet.decode():
            return float(frame.rotation)
    return None


def _video_entry(stream: av.video.stream.VideoStream) -> dict[str, Any]:
    """One video stream as ffprobe's `-show_streams` writes the fields that `parse_probe` reads."""
    context = stream.codec_context
    return {
        "index": stream.index,
        "codec_type": "video",
        "codec_name": context.codec.canonical_name,
        "pix_fmt": context.format.name if context.format else "?",
        "width": stream.width,
        "height": stream.height,
        "avg_frame_rate": _rate_text(stream.average_rate),
        "r_frame_rate": _rate_text(stream.base_rate),
        "start_time": _seconds(stream.start_time, stream.time_base),
        "duration": _seconds(stream.duration, stream.time_base),
        "tags": dict(stream.metadata),
        "disposition": {"attached_pic": int(bool(stream.disposition & av.stream.Disposition.attached_pic))},
    }


def probe_in_process(path: str) -> dict[str, Any] | None:
    """ffprobe's `-show_streams -show_format` fields that `parse_probe` reads (of the video streams: it reads no
    others), from PyAV, for a local file; None when PyAV cannot read it cleanly (ffprobe then gives the verdict)."""
    source, options = safe_input(path)
    try:
        with av.open(source, container_options=options) as container:
            streams = [_video_entry(stream) for stream in container.streams.video]
            video = next((entry for entry in streams if not entry["disposition"]["attached_pic"]), None)
            if video is not None:
                rotation = _first_frame_rotation(container, container.streams[video["index"]])
                if rotation is None:
                    return None
                if rotation:
                    video["side_data_list"] = [{"rotation": rotation}]
            microsecond = Fraction(1, av.time_base)
            return {
                "streams": streams,
                "format": {"start_time": _seconds(container.start_time, microsecond),
                           "duration": _seconds(container.duration, microsecond)},
            }
    except (av.error.FFmpegError, OSError, ValueError):
        return None


def probe_with_ffprobe(path: str, *, timeout_sec: float, max_memory_mb: int) -> VideoInfo:
    """ffprobe in a process under the time and memory limits."""
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

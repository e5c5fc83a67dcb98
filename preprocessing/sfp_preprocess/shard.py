"""One shard task: locate, probe and decode its clips, write them row group by row group, then its done marker.

A task holds one row group of frames at a time (a clip, or a segment of a long video), whatever the shard's or the
dataset's size. A clip that fails becomes an `ErrorRecord` (stage locate | probe | decode) instead of failing the
task; a long video that fails part-way keeps the segments written before the failure. A source the storage cannot
deliver (`locate.SourceUnavailable`) fails the task instead, before its marker: errors of the storage are never
recorded as the video's. A window of a remote video (an AVA movie's part) is read over its span only, through a
presigned URL (`locate`); a network failure while probing it is retried, while decoding it fails the task. A rerun reuses the marker of a previous run only when it verifies (`markers`).
"""

from __future__ import annotations

import os
import resource
import tempfile
from dataclasses import dataclass

from sfp import storage
from sfp.framestore import EncodedClip, ErrorRecord, SegmentRecord, ShardWriter, shard_name_for
from sfp_preprocess.clips import SourceClip
from sfp_preprocess.config import DecodeConfig
from sfp_preprocess.decode import DecodeParams, decode_rows
from sfp_preprocess.locate import RetryPolicy, SourceUnavailable, locate, with_retries
from sfp_preprocess.markers import MarkerKey, marker_uri, measure_shard, plan_sha256, reusable_result, write_marker
from sfp_preprocess.probe import VideoInfo, probe_video
from sfp_preprocess.sandbox import DecodeError, TransientReadError
from sfp_preprocess.summary import ShardResult, SourceStats


@dataclass(frozen=True)
class ShardContext:
    """What every shard task of a job shares."""

    store_uri: str
    video_root: str
    video_extensions: list[str]
    class_ids: dict[str, int]
    decode: DecodeConfig
    clips_per_row_group: int = 1
    source_retry: RetryPolicy = RetryPolicy()  # reads of a source that fail for the storage's reasons


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def decode_params(decode: DecodeConfig) -> DecodeParams:
    return DecodeParams(
        fps=decode.fps,
        short_side=decode.short_side,
        jpeg_qscale=decode.jpeg_qscale,
        timeout_sec=decode.timeout_sec,
        max_memory_mb=decode.max_memory_mb,
    )


@dataclass
class OpenedVideo:
    """A located (downloaded or signed, if remote) and probed video, or why it could not be."""

    candidates: tuple[str, ...]
    source: str
    local_path: str = ""
    info: VideoInfo | None = None
    error: DecodeError | None = None


class VideoOpener:
    """Locates and probes each clip's video, once for consecutive clips of the same video: clips are sorted by id,
    so the windows of one untrimmed video sit side by side in a shard and share one download and one probe."""

    def __init__(self, context: ShardContext, params: DecodeParams, result: ShardResult, workdir: str) -> None:
        self.context, self.params, self.result, self.workdir = context, params, result, workdir
        self.current: OpenedVideo | None = None

    def open(self, clip: SourceClip) -> OpenedVideo:
        if self.current is not None and self.current.candidates == clip.candidates:
            return self.current
        self.release()
        video = OpenedVideo(clip.candidates, clip.candidates[0])
        try:
            windowed = clip.start_sec is not None or clip.segment_range is not None  # not the whole file: seek in it
            rows = len(clip.row_ids(self.params.fps))
            video.source, video.local_path, size = locate(
                clip, self.context.video_root, self.context.video_extensions, self.workdir, self.context.source_retry,
                stream=windowed, expires_sec=int(3600 + 2 * self.params.timeout_sec * rows),
            )
            self.result.bytes_in += size
            info = with_retries(
                lambda: probe_video(video.local_path, timeout_sec=self.params.timeout_sec,
                                    max_memory_mb=self.params.max_memory_mb),
                video.source, self.context.source_retry, final=(DecodeError,),
            )
            video.info = info
            if (clip.segment_range or (0, 0))[0] == 0:  # a movie's statistics once, with its first part
                self.result.sources.append(SourceStats(
                    clip.clip_id, clip.label, info.duration_sec, info.fps, info.width, info.height, info.codec
                ))
        except DecodeError as error:
            video.error = error
        self.current = video
        return video

    def release(self) -> None:
        """Delete the previous video's download, if any."""
        for name in os.listdir(self.workdir):
            os.unlink(os.path.join(self.workdir, name))
        self.current = None


def decode_window(clip: SourceClip, info: VideoInfo, fps: float) -> tuple[float | None, float | None, int]:
    """The part of the source to decode and the frames to drop at its start: the clip's window, or for a part of a
    long video its segments' span on the frame grid that decoding the whole window gives, from one frame earlier
    (dropped): its frames are then the whole window's, byte for byte (tested, also resampling 25 to 30 fps, where
    a segment's first tick falls halfway between two source frames)."""
    if clip.segment_range is None:
        return clip.start_sec, clip.end_sec, 0
    first, end = clip.segment_range
    grid_start, frames = info.window(clip.start_sec, clip.end_sec)[0], clip.frames_per_segment(fps)
    stop = min(clip.end_sec, grid_start + end * frames / fps)  # type: ignore[type-var]
    if first == 0:
        return clip.start_sec, stop, 0
    return grid_start + (first * frames - 1) / fps, stop, 1


def store_clip(clip: SourceClip, video: OpenedVideo, context: ShardContext, params: DecodeParams,
               writer: ShardWriter, result: ShardResult) -> None:
    """Decode one source clip into its rows (one, or one per segment) and add them to the shard; what cannot be
    stored becomes errors, one per missing row."""
    row_ids, segmented, stored = clip.row_ids(params.fps), clip.segmented, 0
    first_segment = (clip.segment_range or (0, 0))[0]
    try:
        if video.error is not None or video.info is None:
            raise video.error or DecodeError("probe", "not probed")
        start_sec, end_sec, skip = decode_window(clip, video.info, params.fps)
        count = video.info.frame_count(start_sec, end_sec, params.fps)
        if first_segment and count is not None and count <= skip:
            raise DecodeError("decode", "the video ends before this segment")
        rows = decode_rows(
            video.local_path, params, video.info, start_sec, end_sec,
            frames_per_row=clip.frames_per_segment(params.fps) if segmented else None,
            timeout_sec=params.timeout_sec * len(row_ids),  # a segment counts as a clip
            skip_frames=skip,
        )
        for decoded in rows:
            if stored == len(row_ids):
                rows.close()  # more than planned (a video of unknown length): the plan is the contract
                break
            writer.add(
                EncodedClip(
                    clip_id=row_ids[stored],
                    label=clip.label,
                    label_id=context.class_ids.get(clip.label, -1) if clip.label is not None else -1,
                    split=clip.split,
                    source_path=video.source,
                    start_sec=decoded.start_sec if segmented else clip.start_sec,
                    end_sec=decoded.start_sec + len(decoded.frames) / params.fps if segmented else clip.end_sec,
                    fps=params.fps,
                    width=decoded.width,
                    height=decoded.height,
                    frames=decoded.frames,
                    timestamps=decoded.timestamps,
                )
            )
            if segmented:
                result.segments.append(SegmentRecord(
                    clip.clip_id, first_segment + stored, row_ids[stored], decoded.start_sec, params.fps,
                    first_segment * clip.frames_per_segment(params.fps) + decoded.first_frame, len(decoded.frames),
                ))
            stored += 1
    except DecodeError as error:
        result.errors.extend(ErrorRecord(row, video.source, error.stage, error.reason) for row in row_ids[stored:])
        return
    except TransientReadError as error:  # ffmpeg's own reconnects did not get through: the task fails, no marker
        raise SourceUnavailable(f"{video.source}: unreadable while decoding ({error})") from None
    reason = "the video ends before this segment"
    result.errors.extend(ErrorRecord(row, video.source, "decode", reason) for row in row_ids[stored:])


def process_shard(context: ShardContext, clips: list[SourceClip]) -> ShardResult:
    """Write one shard (unless a previous run's marker for it verifies, `markers.reusable_result`), then its done
    marker. Raises `SourceUnavailable` (no marker written) when a source stays unreadable for the storage's reasons."""
    shard_path = shard_name_for(clip.shard_key for clip in clips)
    marker = marker_uri(context.store_uri, shard_path)
    key = MarkerKey(context.decode.model_dump(), plan_sha256(clips, context.class_ids))
    reused, redone = reusable_result(context.store_uri, marker, key)
    if reused is not None:
        reused.resumed, reused.redone, reused.peak_rss_mb = True, "", 0.0
        return reused
    if redone:
        storage.remove(marker)  # a marker always describes the shard file beside it
    cpu_start = _cpu_seconds()
    result = ShardResult(shard=None, records=[], errors=[], redone=redone)
    params = decode_params(context.decode)
    shard_file = None
    with tempfile.TemporaryDirectory(prefix="sfp-decode-") as workdir:
        videos = VideoOpener(context, params, result, workdir)
        with ShardWriter(context.store_uri, shard_path, context.clips_per_row_group) as writer:
            for clip in clips:
                store_clip(clip, videos.open(clip), context, params, writer, result)
            videos.release()
            if writer.rows:
                result.shard, result.records = writer.close()
                shard_file = measure_shard(context.store_uri, shard_path)
            else:
                writer.abort()
    result.cpu_seconds = _cpu_seconds() - cpu_start
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    write_marker(marker, result, key, shard_file)
    return result

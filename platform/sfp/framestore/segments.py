"""Long videos stored as segments: from times in the source video to frames in the store.

A segmented video (an AVA movie) is stored as consecutive, non-overlapping segment rows on one frame grid at the
store's fps: frame `n` of the span is in the segment whose `first_frame <= n < first_frame + num_frames`. A window of
frames around a keyframe is read from one segment, or from two when it straddles a boundary; no frame is stored twice.
"""

from __future__ import annotations

import bisect
from typing import Sequence

from sfp.errors import FrameStoreError
from sfp.framestore.records import SegmentRecord


def window_times(center_sec: float, num_frames: int, stride: int, fps: float) -> list[float]:
    """Times of `num_frames` frames `stride` apart on a `fps` grid, centred on `center_sec` (SlowFast's AVA
    sampling: frame `num_frames // 2` of the window is the keyframe)."""
    return [center_sec + (position - num_frames // 2) * stride / fps for position in range(num_frames)]


def frame_positions(
    video_id: str, segments: Sequence[SegmentRecord], times_sec: Sequence[float]
) -> list[tuple[int, int]]:
    """`(position in segments, frame index in that segment)` of the frame nearest each time, on the video's grid.

    Times before the first or after the last stored frame are clamped to it (the usual treatment of windows at the
    edges of a video). `segments` are one video's, sorted by `segment`. A frame inside a segment that could not be
    stored (it is in `_errors.parquet`) is an error.
    """
    if not segments:
        raise FrameStoreError(f"{video_id}: no segments stored")
    first = segments[0]
    fps, span_start = first.fps, first.start_sec - first.first_frame / first.fps
    firsts = [segment.first_frame for segment in segments]
    last_frame = segments[-1].first_frame + segments[-1].num_frames - 1
    positions = []
    for time in times_sec:
        frame = min(max(round((time - span_start) * fps), firsts[0]), last_frame)
        position = bisect.bisect_right(firsts, frame) - 1
        index = frame - firsts[position]
        if index >= segments[position].num_frames:
            raise FrameStoreError(f"{video_id}: frame at {time:.3f} s is not stored (its segment failed)")
        positions.append((position, index))
    return positions

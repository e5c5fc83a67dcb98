"""Plain records that flow between the preprocessing job and the frame store."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EncodedClip:
    """One decoded clip, ready to be written: JPEG frames and their timestamps."""

    clip_id: str
    label: str | None
    label_id: int
    split: str
    source_path: str
    start_sec: float | None
    end_sec: float | None
    fps: float
    width: int
    height: int
    frames: list[bytes] = field(repr=False)
    timestamps: list[float] = field(repr=False)

    @property
    def num_frames(self) -> int:
        return len(self.frames)


@dataclass(frozen=True)
class ClipRecord:
    """One row of `_index.parquet`: a stored clip and where its frames live."""

    clip_id: str
    label: str | None
    label_id: int
    split: str
    source_path: str
    start_sec: float | None
    end_sec: float | None
    fps: float
    width: int
    height: int
    num_frames: int
    shard: str
    row_group: int
    row_in_group: int


@dataclass(frozen=True)
class ErrorRecord:
    """A source clip that could not be stored, and why."""

    clip_id: str
    source_path: str
    stage: str
    reason: str


@dataclass(frozen=True)
class SegmentRecord:
    """One row of `_segments.parquet`: a fixed-length piece of a long video, stored as the clip `clip_id`."""

    video_id: str
    segment: int
    clip_id: str
    start_sec: float
    fps: float
    first_frame: int
    num_frames: int

"""Plain records that flow between the preprocessing job and the frame store."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class ClipInfo:
    """What every record of a clip carries: its id, label, split, source and video properties."""

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

    def clip_fields(self) -> dict[str, Any]:
        """These fields by name, to make another kind of record of the same clip."""
        return {item.name: getattr(self, item.name) for item in fields(ClipInfo)}


@dataclass(frozen=True)
class EncodedClip(ClipInfo):
    """One decoded clip, ready to be written: JPEG frames and their timestamps."""

    frames: list[bytes] = field(repr=False)
    timestamps: list[float] = field(repr=False)

    @property
    def num_frames(self) -> int:
        return len(self.frames)


@dataclass(frozen=True)
class ClipRecord(ClipInfo):
    """One row of `_index.parquet`: a stored clip and where its frames live."""

    num_frames: int
    shard: str
    row_group: int
    row_in_group: int

    @classmethod
    def of(cls, clip: EncodedClip, shard: str, row_group: int, row_in_group: int) -> "ClipRecord":
        """The index row of `clip`, stored in `shard` from row `row_in_group` of row group `row_group` on."""
        return cls(**clip.clip_fields(), num_frames=clip.num_frames, shard=shard, row_group=row_group,
                   row_in_group=row_in_group)


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

"""The preprocessing recipe: which dataset, where its videos are, where the frame store goes, how to decode."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sfp import storage
from sfp.config import StorageUri, StrictModel
from sfp.tracking import TrackingConfig


class AvaConfig(StrictModel):
    """AVA v2.1/v2.2: which part of each movie to store. Keyframes are at 1 Hz in `keyframe_range` (seconds of the
    movie); the stored span adds `margin_sec` on each side (clamped at 0) so that every keyframe's window is stored,
    cut into non-overlapping segments of `segment_sec`."""

    keyframe_range: tuple[int, int] = (902, 1798)
    margin_sec: float = Field(1.5, ge=0)  # half a clip window: 32 frames at stride 2 at 30 fps is +-1.07 s
    segment_sec: float = Field(10.0, gt=0)  # one row: a window reads one segment, two at a boundary

    @model_validator(mode="after")
    def _check(self) -> "AvaConfig":
        if self.keyframe_range[1] < self.keyframe_range[0]:
            raise ValueError(f"keyframe_range {self.keyframe_range}: the end is before the start")
        return self

    @property
    def span(self) -> tuple[float, float]:
        return max(0.0, self.keyframe_range[0] - self.margin_sec), self.keyframe_range[1] + self.margin_sec


class DatasetConfig(StrictModel):
    """A source dataset. `format` says how to find its videos.

    - kinetics: the official CSV `label,youtube_id,time_start,time_end,split` (optional `path` column); video files
      `{youtube_id}_{time_start:06d}_{time_end:06d}.<ext>` under `video_root` (in `<split>/` with `split_folders`,
      then in `<label>/` or not); with `trimmed: false`, full videos `{youtube_id}.<ext>` the window is cut from.
    - csv: `path,label` with optional `start,end` (seconds) and `split`.
    - folder: no manifest; `video_root/<label>/<file>` (or `video_root/<split>/<label>/<file>` with
      `split_folders`), listed once.
    - ava: `manifest` is an AVA annotation CSV (`video_id, keyframe_sec, x1, y1, x2, y2, action_id[, person_id]`,
      no header); movies `{video_id}.<ext>` under `video_root`, stored as segments (see `AvaConfig`).
    """

    format: Literal["kinetics", "csv", "folder", "ava"] = "kinetics"
    manifest: str | None = None  # URI of the CSV (every format but folder)
    video_root: str | None = None  # URI the video paths are relative to (default: the manifest's folder)
    trimmed: bool = True  # kinetics: files are already cut to [time_start, time_end]; false: cut them
    video_extensions: list[str] = Field(default_factory=lambda: [".mp4", ".webm", ".mkv", ".avi", ".mov"])
    label_folders: bool = True  # kinetics: look in `<video_root>/<label>/` first, then in `<video_root>/`
    split_folders: bool = False  # folder, kinetics: the first folder level under video_root is the split
    default_split: str = "train"
    ava: AvaConfig = AvaConfig()

    @model_validator(mode="after")
    def _check(self) -> "DatasetConfig":
        if self.format == "folder" and not self.video_root:
            raise ValueError("the folder format needs video_root")
        if self.format != "folder" and not self.manifest:
            raise ValueError(f"the {self.format} format needs a manifest")
        if not all(extension.startswith(".") for extension in self.video_extensions):
            raise ValueError(f"video_extensions must start with a dot, got {self.video_extensions}")
        return self

    @property
    def root(self) -> str:
        """Where the videos are: `video_root`, else the manifest's folder."""
        return self.video_root or storage.parent_uri(self.manifest or "")


class DecodeConfig(StrictModel):
    fps: float = Field(30.0, gt=0)
    short_side: int = Field(256, ge=16, multiple_of=2)
    jpeg_qscale: int = Field(4, ge=2, le=31)  # ffmpeg's mjpeg quantiser: 2 best .. 31 worst
    timeout_sec: float = Field(120.0, gt=0)  # per clip (a segment of a long video counts as a clip)
    max_memory_mb: int = Field(2048, ge=256)  # address space of each ffmpeg process (ffmpeg alone maps ~250 MB)


class OutputConfig(StrictModel):
    uri: StorageUri
    clips_per_shard: int = Field(64, ge=1)  # 64 Kinetics clips (10 s, short side 256) is about 300 MB
    clips_per_row_group: int = Field(1, ge=1)  # one clip per row group: one range request per clip
    # add the manifest's clips that the store at `uri` does not hold yet, as its next version (`sfp_preprocess.append`)
    append: bool = False
    # long videos (AVA): a task decodes at most this many segments of a movie, so one movie spreads across workers
    # (None: a movie is one task; on S3 each task downloads the whole movie)
    segments_per_task: int | None = Field(None, ge=1)


class PreprocessTrackingConfig(TrackingConfig):
    """Each job is an MLflow run (the same run again when a job is resumed); `enabled: false` logs nothing."""

    enabled: bool = True
    experiment: str = "preprocessing"


class PreprocessConfig(StrictModel):
    dataset: DatasetConfig
    decode: DecodeConfig = DecodeConfig()
    output: OutputConfig
    tracking: PreprocessTrackingConfig = PreprocessTrackingConfig()
    error_budget: float = Field(0.01, ge=0, le=1)  # fail the job when more than this share of clips fail
    # Ray CPUs per shard task: one task per core. 0.66 (3 tasks per 2 cores) filled the gaps of a separate ffprobe
    # per clip; with the probe in the task's process, one per core is as fast or faster (on 2 cores: 24.6 s vs 26.2 s
    # for 96 clips on a running Ray, 33.0 s vs 33.3 s as a whole process, medians of 3 alternating rounds)
    cpus_per_task: float = Field(1.0, gt=0)
    limit: int | None = Field(None, ge=1)  # only the first N rows (smoke tests)

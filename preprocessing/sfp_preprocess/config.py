"""The preprocessing recipe: which dataset, where its videos are, where the frame store goes, how to decode."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sfp.config import StrictModel


class DatasetConfig(StrictModel):
    """A source dataset. `format` says how to read `manifest`.

    - kinetics: the official CSV `label,youtube_id,time_start,time_end,split` (optional `path` column); video files
      `{youtube_id}_{time_start:06d}_{time_end:06d}.<ext>` under `video_root` (optionally in a folder per label).
    - csv: `path,label` with optional `start,end` (seconds) and `split`.
    """

    format: Literal["kinetics", "csv"] = "kinetics"
    manifest: str  # URI of the CSV
    video_root: str | None = None  # URI the video paths are relative to (default: the manifest's folder)
    trimmed: bool = True  # kinetics: files are already cut to [time_start, time_end]; false: cut them
    video_extensions: list[str] = Field(default_factory=lambda: [".mp4", ".webm", ".mkv", ".avi", ".mov"])
    label_folders: bool = True  # kinetics: look in `<video_root>/<label>/` first, then in `<video_root>/`
    default_split: str = "train"


class DecodeConfig(StrictModel):
    fps: float = Field(30.0, gt=0)
    short_side: int = Field(256, ge=16, multiple_of=2)
    jpeg_qscale: int = Field(4, ge=2, le=31)  # ffmpeg's mjpeg quantiser: 2 best .. 31 worst
    timeout_sec: float = Field(120.0, gt=0)  # per clip
    max_memory_mb: int = Field(2048, ge=128)  # per ffmpeg process


class OutputConfig(StrictModel):
    uri: str
    clips_per_shard: int = Field(64, ge=1)  # 64 Kinetics clips (10 s, short side 256) is about 300 MB
    clips_per_row_group: int = Field(1, ge=1)  # one clip per row group: one range request per clip


class PreprocessConfig(StrictModel):
    dataset: DatasetConfig
    decode: DecodeConfig = DecodeConfig()
    output: OutputConfig
    error_budget: float = Field(0.01, ge=0, le=1)  # fail the job when more than this share of clips fail
    cpus_per_task: float = Field(1.0, gt=0)
    limit: int | None = Field(None, ge=1)  # only the first N rows (smoke tests)

    @model_validator(mode="after")
    def _check(self) -> "PreprocessConfig":
        return self

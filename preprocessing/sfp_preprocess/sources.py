"""Dataset manifests -> source clips: which file, which window, which label. No video is opened here."""

from __future__ import annotations

import csv
import hashlib
import io
import posixpath
from dataclasses import asdict, dataclass

from sfp import storage
from sfp.errors import SfpError
from sfp_preprocess.config import DatasetConfig

KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")


@dataclass(frozen=True)
class SourceClip:
    clip_id: str
    label: str | None
    split: str
    candidates: tuple[str, ...]  # URIs to try in order; the first that exists is the video
    start_sec: float | None  # window to cut; None: the whole file
    end_sec: float | None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["candidates"] = list(self.candidates)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "SourceClip":
        return cls(**{**data, "candidates": tuple(data["candidates"])})


@dataclass(frozen=True)
class SourcePlan:
    clips: list[SourceClip]
    classes: list[str]
    manifest_sha256: str


def _resolve_under(root: str, relative: str, manifest: str, line: int) -> str:
    """Join a manifest path to the video root; paths that escape the root are refused."""
    if "://" in relative or relative.startswith("/"):
        raise SfpError(f"{manifest}:{line}: video paths must be relative to the video root, got {relative!r}")
    normalised = posixpath.normpath(relative)
    if normalised.startswith("..") or normalised == ".":
        raise SfpError(f"{manifest}:{line}: video path {relative!r} escapes the video root")
    return storage.join_uri(root, normalised)


def _read_rows(manifest: str, required: tuple[str, ...]) -> tuple[list[dict], str]:
    data = storage.read_bytes(manifest)
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    missing = [column for column in required if column not in (reader.fieldnames or [])]
    if missing:
        raise SfpError(f"{manifest}: missing column(s) {', '.join(missing)} (has {reader.fieldnames})")
    return list(reader), hashlib.sha256(data).hexdigest()


def _kinetics_clips(config: DatasetConfig, root: str) -> tuple[list[SourceClip], str]:
    rows, digest = _read_rows(config.manifest, KINETICS_COLUMNS)
    clips = []
    for line, row in enumerate(rows, start=2):
        try:
            start, end = int(float(row["time_start"])), int(float(row["time_end"]))
        except ValueError:
            raise SfpError(f"{config.manifest}:{line}: time_start/time_end must be numbers") from None
        clip_id = f"{row['youtube_id']}_{start:06d}_{end:06d}"
        label = row["label"] or None
        if row.get("path"):
            candidates = (_resolve_under(root, row["path"], config.manifest, line),)
        else:
            folders = ([label] if config.label_folders and label else []) + [""]
            candidates = tuple(
                _resolve_under(root, posixpath.join(folder, clip_id + extension), config.manifest, line)
                for folder in folders
                for extension in config.video_extensions
            )
        window = (None, None) if config.trimmed else (float(start), float(end))
        clips.append(SourceClip(clip_id, label, row["split"] or config.default_split, candidates, *window))
    return clips, digest


def _csv_clips(config: DatasetConfig, root: str) -> tuple[list[SourceClip], str]:
    rows, digest = _read_rows(config.manifest, ("path", "label"))
    clips = []
    for line, row in enumerate(rows, start=2):
        path = _resolve_under(root, row["path"], config.manifest, line)
        start = float(row["start"]) if row.get("start") else None
        end = float(row["end"]) if row.get("end") else None
        stem = posixpath.splitext(posixpath.basename(row["path"]))[0]
        suffix = hashlib.sha1(f"{row['path']}|{start}|{end}".encode()).hexdigest()[:8]
        clip_id = f"{stem}_{suffix}"
        clips.append(SourceClip(clip_id, row["label"] or None, row.get("split") or config.default_split, (path,), start, end))
    return clips, digest


def plan_sources(config: DatasetConfig, limit: int | None = None) -> SourcePlan:
    """Read the dataset manifest into source clips, with a sorted class list (the label ids)."""
    root = config.video_root or storage.parent_uri(config.manifest)
    reader = {"kinetics": _kinetics_clips, "csv": _csv_clips}[config.format]
    clips, digest = reader(config, root)
    seen: set[str] = set()
    for clip in clips:
        if clip.clip_id in seen:
            raise SfpError(f"{config.manifest}: clip {clip.clip_id} appears twice")
        seen.add(clip.clip_id)
    if limit is not None:
        clips = clips[:limit]
    classes = sorted({clip.label for clip in clips if clip.label is not None})
    return SourcePlan(clips=clips, classes=classes, manifest_sha256=digest)

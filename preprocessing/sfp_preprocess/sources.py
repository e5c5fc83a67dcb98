"""Dataset manifests -> source clips: which file, which window, which label. No video is opened here, and no
bucket is listed except for the folder format (which has no manifest): a 300k-row CSV plans from the CSV alone."""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from typing import Iterator

from sfp import storage
from sfp.errors import SfpError
from sfp_preprocess.ava import ava_clips
from sfp_preprocess.clips import ANY_EXTENSION, SourceClip, SourcePlan, VideoRoot, path_clip_id
from sfp_preprocess.config import DatasetConfig
from sfp_preprocess.listing import folder_clips

KINETICS_COLUMNS = ("youtube_id", "time_start", "time_end")  # `label`, `split` and `path` are optional


def read_manifest_rows(manifest: str, required: tuple[str, ...]) -> tuple[Iterator[dict], str]:
    """The CSV's rows (as they are read: a 300k-row manifest is never held as 300k dicts) and its sha256."""
    data = storage.read_bytes(manifest)
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    missing = [column for column in required if column not in (reader.fieldnames or [])]
    if missing:
        raise SfpError(f"{manifest}: missing column(s) {', '.join(missing)} (has {reader.fieldnames})")
    return reader, hashlib.sha256(data).hexdigest()


def _seconds(row: dict, column: str, manifest: str, line: int) -> float | None:
    text = (row.get(column) or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise SfpError(f"{manifest}:{line}: {column} must be a number of seconds, got {text!r}") from None


def _shared(text: str | None) -> str | None:
    """One string object per distinct label or split, not one per row."""
    return sys.intern(text) if text is not None else None


def kinetics_clips(config: DatasetConfig) -> tuple[list[SourceClip], str]:
    manifest = config.manifest or ""
    rows, digest = read_manifest_rows(manifest, KINETICS_COLUMNS)
    root = VideoRoot(config.root, manifest)
    clips = []
    for line, row in enumerate(rows, start=2):
        start, end = _seconds(row, "time_start", manifest, line), _seconds(row, "time_end", manifest, line)
        if start is None or end is None or end <= start:
            raise SfpError(f"{manifest}:{line}: time_start/time_end must be numbers, the end after the start")
        youtube_id = root.component(row["youtube_id"], line)
        clip_id = f"{youtube_id}_{int(start):06d}_{int(end):06d}"
        label, split = _shared(row.get("label") or None), _shared(row.get("split") or config.default_split)
        if row.get("path"):
            candidates: tuple[str, ...] = (root.resolve(row["path"], line),)
        else:  # built from checked components: 300k rows plan in seconds
            base = f"{root.root}/{root.component(split, line)}" if config.split_folders else root.root
            stem = clip_id if config.trimmed else youtube_id
            in_label = (f"{base}/{root.component(label, line)}/{stem}{ANY_EXTENSION}",) if config.label_folders and label else ()
            candidates = in_label + (f"{base}/{stem}{ANY_EXTENSION}",)
        window = (None, None) if config.trimmed else (start, end)
        clips.append(SourceClip(clip_id, label, split, candidates, *window))
    return clips, digest


def csv_clips(config: DatasetConfig) -> tuple[list[SourceClip], str]:
    manifest = config.manifest or ""
    rows, digest = read_manifest_rows(manifest, ("path", "label"))
    root = VideoRoot(config.root, manifest)
    clips = []
    for line, row in enumerate(rows, start=2):
        path = root.resolve(row["path"], line)
        start, end = _seconds(row, "start", manifest, line), _seconds(row, "end", manifest, line)
        if start is not None and end is not None and end <= start:
            raise SfpError(f"{manifest}:{line}: the end ({end}) is not after the start ({start})")
        clip_id = path_clip_id(row["path"], start, end)
        split = row.get("split") or config.default_split
        clips.append(SourceClip(clip_id, row["label"] or None, split, (path,), start, end))
    return clips, digest


def plan_sources(config: DatasetConfig, limit: int | None = None) -> SourcePlan:
    """Read the dataset manifest into source clips, with a sorted class list (the label ids)."""
    reader = {"kinetics": kinetics_clips, "csv": csv_clips, "folder": folder_clips, "ava": ava_clips}[config.format]
    clips, digest = reader(config)
    seen: set[str] = set()
    for clip in clips:
        if clip.clip_id in seen:
            raise SfpError(f"{config.manifest or config.video_root}: clip {clip.clip_id} appears twice")
        seen.add(clip.clip_id)
    if limit is not None:
        clips = clips[:limit]
    classes = sorted({clip.label for clip in clips if clip.label is not None})
    return SourcePlan(clips=clips, classes=classes, manifest_sha256=digest)

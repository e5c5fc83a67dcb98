"""Source clips: what the planner hands to the decode tasks (a video, a window of it, a label), and the rules
that keep manifest paths inside the video root."""

from __future__ import annotations

import hashlib
import math
import posixpath
from dataclasses import asdict, dataclass, replace

from sfp import storage
from sfp.errors import SfpError

ANY_EXTENSION = ".*"  # a candidate ending in this stands for each of the dataset's video extensions


@dataclass(frozen=True, slots=True)
class SourceClip:
    clip_id: str
    label: str | None
    split: str
    candidates: tuple[str, ...]  # URIs to try in order; the first that exists is the video
    start_sec: float | None  # window to cut; None: from the start / to the end of the file
    end_sec: float | None
    segment_sec: float | None = None  # store the window as consecutive rows of this length (long videos)
    segment_range: tuple[int, int] | None = None  # a task's part of a long video: segments [first, end)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["candidates"] = list(self.candidates)
        if self.segment_range is None:  # a whole clip's plan (and its marker's plan hash) is as before parts existed
            del data["segment_range"]
        else:
            data["segment_range"] = list(self.segment_range)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "SourceClip":
        segment_range = tuple(data["segment_range"]) if data.get("segment_range") else None
        return cls(**{**data, "candidates": tuple(data["candidates"]), "segment_range": segment_range})

    @property
    def shard_key(self) -> str:
        """What names the clip in its shard's name: its id, and for a part of a long video its segments too."""
        if self.segment_range is None:
            return self.clip_id
        return f"{self.clip_id}#{self.segment_range[0]}-{self.segment_range[1]}"

    @property
    def segmented(self) -> bool:
        return self.segment_sec is not None and self.start_sec is not None and self.end_sec is not None

    def frames_per_segment(self, fps: float) -> int:
        return max(1, round((self.segment_sec or 0.0) * fps))

    def segment_count(self, fps: float) -> int:
        """Segments of the whole window (whatever part of them this clip is)."""
        frames = round((self.end_sec - self.start_sec) * fps)  # type: ignore[operator]
        return max(1, math.ceil(frames / self.frames_per_segment(fps)))

    def row_ids(self, fps: float) -> list[str]:
        """The frame-store rows this clip becomes: itself, or its segments (those of its part)."""
        if not self.segmented:
            return [self.clip_id]
        first, end = self.segment_range or (0, self.segment_count(fps))
        return [segment_id(self.clip_id, k) for k in range(first, end)]

    def parts(self, segments_per_part: int, fps: float) -> list["SourceClip"]:
        """A long video as consecutive parts of at most `segments_per_part` segments, as even as they can be (each
        a task of its own); a clip of fewer segments, or no long video, is itself."""
        count = self.segment_count(fps) if self.segmented else 1
        if not self.segmented or count <= segments_per_part:
            return [self]
        parts = math.ceil(count / segments_per_part)
        bounds = [round(index * count / parts) for index in range(parts + 1)]
        return [replace(self, segment_range=(first, end)) for first, end in zip(bounds, bounds[1:])]


def segment_id(clip_id: str, segment: int) -> str:
    return f"{clip_id}_seg{segment:04d}"


def expand_candidates(candidates: tuple[str, ...], extensions: list[str]) -> list[str]:
    expanded = []
    for candidate in candidates:
        if candidate.endswith(ANY_EXTENSION):
            stem = candidate[: -len(ANY_EXTENSION)]
            expanded.extend(stem + extension for extension in extensions)
        else:
            expanded.append(candidate)
    return expanded


@dataclass(frozen=True)
class SourcePlan:
    clips: list[SourceClip]
    classes: list[str]
    manifest_sha256: str


class VideoRoot:
    """Joins manifest paths to the video root; a path that could leave the root is refused."""

    def __init__(self, root: str, manifest: str) -> None:
        self.root = storage.parse_uri(root).uri.rstrip("/")
        self.manifest = manifest

    def component(self, name: str, line: int) -> str:
        """A name used as one folder or file name (a label, a video id): it may not contain a path."""
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
            raise SfpError(f"{self.manifest}:{line}: {name!r} cannot be a file or folder name under the video root")
        return name

    def resolve(self, relative: str, line: int) -> str:
        if "://" in relative or relative.startswith(("/", "\\")) or "\\" in relative or "\x00" in relative:
            raise SfpError(f"{self.manifest}:{line}: video paths must be relative to the video root, got {relative!r}")
        normalised = posixpath.normpath(relative)
        if normalised == "." or normalised == ".." or normalised.startswith("../"):
            raise SfpError(f"{self.manifest}:{line}: video path {relative!r} escapes the video root")
        return f"{self.root}/{normalised}"


def path_clip_id(relative: str, start: float | None, end: float | None) -> str:
    """`<file stem>_<8 hex>`: readable, and distinct for distinct files and windows."""
    stem = posixpath.splitext(posixpath.basename(relative))[0]
    return f"{stem}_{hashlib.sha1(f'{relative}|{start}|{end}'.encode()).hexdigest()[:8]}"

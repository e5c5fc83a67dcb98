"""The folder format: `video_root/<label>/<video>` (or `video_root/<split>/<label>/<video>`), listed once.

It is the one format without a manifest, so it is the one that lists storage: a single recursive listing of the
video root (local folder or S3 prefix). The listing (paths and sizes) is hashed in place of a manifest file.
"""

from __future__ import annotations

import hashlib
import posixpath

from sfp import storage
from sfp.errors import SfpError, StorageError
from sfp_preprocess.clips import SourceClip, path_clip_id
from sfp_preprocess.config import DatasetConfig


def list_videos(root: str, extensions: list[str]) -> list[tuple[str, int]]:
    """`(path relative to root, size)` of every video file under `root`, sorted; hidden files are skipped."""
    fs, location = storage.open_location(root)
    try:
        found = fs.find(location.path, detail=True)
    except Exception as error:
        raise StorageError(f"{root}: cannot list ({str(error).splitlines()[0][:200]})") from None
    suffixes = tuple(extension.lower() for extension in extensions)
    videos = []
    for path, info in found.items():
        relative = posixpath.relpath(path, location.path)
        if info.get("type") == "file" and relative.lower().endswith(suffixes):
            if not any(part.startswith(".") for part in relative.split("/")):
                videos.append((relative, int(info.get("size") or 0)))
    return sorted(videos)


def folder_clips(config: DatasetConfig) -> tuple[list[SourceClip], str]:
    root = storage.parse_uri(config.root).uri.rstrip("/")
    videos = list_videos(root, config.video_extensions)
    depth = 3 if config.split_folders else 2
    layout = "<split>/<label>/<video>" if config.split_folders else "<label>/<video>"
    clips, digest = [], hashlib.sha256()
    for relative, size in videos:
        parts = relative.split("/")
        if len(parts) != depth:
            raise SfpError(f"{root}/{relative}: the folder format expects {layout} under the video root")
        split = parts[0] if config.split_folders else config.default_split
        clips.append(SourceClip(path_clip_id(relative, None, None), parts[-2], split, (f"{root}/{relative}",), None, None))
        digest.update(f"{relative}\t{size}\n".encode())
    if not clips:
        raise SfpError(f"{root}: no videos ({', '.join(config.video_extensions)}) in the {layout} layout")
    return clips, digest.hexdigest()

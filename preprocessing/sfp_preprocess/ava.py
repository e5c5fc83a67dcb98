"""The AVA format (v2.1, v2.2): movies stored over their keyframe span as fixed-length segments.

The manifest is an annotation CSV without a header (`video_id, keyframe_sec, x1, y1, x2, y2, action_id[,
person_id]`), or a movie list with one `video_id[.ext]` per line (as `ava_file_names_trainval_v2.1.txt`). Each movie
`video_root/{video_id}.<ext>` becomes one source clip over `AvaConfig.span` with `segment_sec` set: the decode task
writes it as consecutive, non-overlapping segment rows, and `_segments.parquet` says which rows form which movie.
"""

from __future__ import annotations

import csv
import hashlib
import io
import posixpath

from sfp import storage
from sfp.errors import SfpError
from sfp_preprocess.clips import ANY_EXTENSION, SourceClip, VideoRoot
from sfp_preprocess.config import DatasetConfig


def read_movie_ids(
    manifest: str, keyframe_range: tuple[int, int], extensions: list[str]
) -> tuple[dict[str, int], str]:
    """Movie file names (`{video_id}.*` for annotation rows) with their first line, and the manifest's sha256.

    A keyframe outside `keyframe_range` is an error: its window would not be in the store."""
    data = storage.read_bytes(manifest)
    movies: dict[str, int] = {}
    for line, row in enumerate(csv.reader(io.StringIO(data.decode("utf-8-sig"))), start=1):
        if not row or not row[0].strip():
            continue
        if len(row) == 1:
            name = row[0].strip()
            known = posixpath.splitext(name)[1].lower() in {extension.lower() for extension in extensions}
            movies.setdefault(name if known else name + ANY_EXTENSION, line)
            continue
        if len(row) < 7:
            raise SfpError(f"{manifest}:{line}: an AVA row has at least 7 columns, this one has {len(row)}")
        try:
            keyframe = float(row[1])
        except ValueError:
            raise SfpError(f"{manifest}:{line}: keyframe_sec must be a number, got {row[1]!r}") from None
        if not keyframe_range[0] <= keyframe <= keyframe_range[1]:
            raise SfpError(
                f"{manifest}:{line}: keyframe {keyframe:g} s is outside dataset.ava.keyframe_range {list(keyframe_range)}"
            )
        movies.setdefault(row[0].strip() + ANY_EXTENSION, line)
    return movies, hashlib.sha256(data).hexdigest()


def ava_clips(config: DatasetConfig) -> tuple[list[SourceClip], str]:
    manifest = config.manifest or ""
    names, digest = read_movie_ids(manifest, config.ava.keyframe_range, config.video_extensions)
    root = VideoRoot(config.root, manifest)
    start, end = config.ava.span
    clips = []
    for name, line in names.items():
        video_id = name[: -len(ANY_EXTENSION)] if name.endswith(ANY_EXTENSION) else posixpath.splitext(name)[0]
        clips.append(
            SourceClip(
                clip_id=video_id,
                label=None,
                split=config.default_split,
                candidates=(root.resolve(name, line),),
                start_sec=start,
                end_sec=end,
                segment_sec=config.ava.segment_sec,
            )
        )
    return clips, digest

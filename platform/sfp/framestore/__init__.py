"""The frame store: the contract between preprocessing (writer) and training (reader).

A frame store is a folder (local or `s3://`) holding

- `shards/part-*.parquet`: the JPEG frames of clips (or of fixed-length segments of a long movie) and their
  timestamps; schema version 2 stores one row per frame in row groups of 16 consecutive frames of one clip, so a
  training window is one small ranged read (version-1 shards, one row per clip, are still read);
- `_index.parquet`: one small row per clip (id, label, split, sizes, and where its row lives), so that a reader plans
  an epoch without touching frame data;
- `_errors.parquet`: one row per source clip that could not be stored (clip id, source, stage, reason);
- `_segments.parquet` (stores of long videos only): which rows are the consecutive segments of which video, so that
  `FrameStore.read_span(video_id, times)` reads any window of a movie, across segment boundaries;
- `_manifest.json`: written last, the commit point. A folder without it is not a frame store (yet).
- `_versions/<n>-<hash>/` (stores that clips were appended to): the manifest and tables of version `n`; the current
  manifest names the tables it commits, and lists the store's versions (`sfp.framestore.versions`).
"""

from sfp.framestore.schema import (
    CLIP_SCHEMA,
    ERROR_SCHEMA,
    FRAME_SCHEMA,
    INDEX_SCHEMA,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    SEGMENT_SCHEMA,
)
from sfp.framestore.manifest import Manifest, ShardInfo, StoreVersion
from sfp.framestore.records import ClipInfo, ClipRecord, EncodedClip, ErrorRecord, SegmentRecord
from sfp.framestore.segments import window_times
from sfp.framestore.writer import ShardWriter, finalize_store, shard_name_for, write_shard
from sfp.framestore.reader import ClipLocation, FrameStore, decode_jpeg
from sfp.framestore.versions import commit_version

__all__ = [
    "CLIP_SCHEMA",
    "ERROR_SCHEMA",
    "FRAME_SCHEMA",
    "INDEX_SCHEMA",
    "READABLE_SCHEMA_VERSIONS",
    "SCHEMA_VERSION",
    "SEGMENT_SCHEMA",
    "ClipInfo",
    "ClipLocation",
    "ClipRecord",
    "EncodedClip",
    "ErrorRecord",
    "FrameStore",
    "Manifest",
    "SegmentRecord",
    "ShardInfo",
    "ShardWriter",
    "StoreVersion",
    "commit_version",
    "decode_jpeg",
    "finalize_store",
    "shard_name_for",
    "window_times",
    "write_shard",
]

"""The frame store: the contract between preprocessing (writer) and training (reader).

A frame store is a folder (local or `s3://`) holding

- `shards/part-*.parquet`: one row per clip (or per fixed-length segment of a long movie) with the clip's JPEG frames
  and their timestamps; one clip per row group by default, so one clip is one small range request;
- `_index.parquet`: one small row per clip (id, label, split, sizes, and where its row lives), so that a reader plans
  an epoch without touching frame data;
- `_errors.parquet`: one row per source clip that could not be stored (clip id, source, stage, reason);
- `_segments.parquet` (stores of long videos only): which rows are the consecutive segments of which video, so that
  `FrameStore.read_span(video_id, times)` reads any window of a movie, across segment boundaries;
- `_manifest.json`: written last, the commit point. A folder without it is not a frame store (yet).
"""

from sfp.framestore.schema import CLIP_SCHEMA, ERROR_SCHEMA, INDEX_SCHEMA, SCHEMA_VERSION, SEGMENT_SCHEMA
from sfp.framestore.manifest import Manifest, ShardInfo
from sfp.framestore.records import ClipRecord, EncodedClip, ErrorRecord, SegmentRecord
from sfp.framestore.segments import window_times
from sfp.framestore.writer import ShardWriter, finalize_store, shard_name_for, write_shard
from sfp.framestore.reader import ClipLocation, FrameStore, decode_jpeg

__all__ = [
    "CLIP_SCHEMA",
    "ERROR_SCHEMA",
    "INDEX_SCHEMA",
    "SCHEMA_VERSION",
    "SEGMENT_SCHEMA",
    "ClipLocation",
    "ClipRecord",
    "EncodedClip",
    "ErrorRecord",
    "FrameStore",
    "Manifest",
    "SegmentRecord",
    "ShardInfo",
    "ShardWriter",
    "decode_jpeg",
    "finalize_store",
    "shard_name_for",
    "window_times",
    "write_shard",
]

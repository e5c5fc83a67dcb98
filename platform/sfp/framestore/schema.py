"""Arrow schemas of the frame store, version 3. Any change that an older reader cannot read bumps SCHEMA_VERSION.

Version 2 changed the shards only: a v1 shard holds one row per clip (`CLIP_SCHEMA`, the clip's frames in one list
cell, so reading any frame reads the whole clip); a v2 shard holds one row per frame (`FRAME_SCHEMA`) in row groups of
`frames_per_row_group` consecutive frames of one clip, so a window of frames is a few adjacent column chunks, one
ranged read. Version 3 changed the manifest only: it records the store's versions (`version`, `versions`) and names
the tables it commits (`tables`): version 1's are at the root as before, an appended version's under
`_versions/<version>-<hash>/`, so that committing a version is one atomic write of `_manifest.json`. Shards of version 3
are version-2 shards; this code reads all three versions (a manifest without `versions` is version 1 of its store).
"""

import pyarrow as pa

SCHEMA_VERSION = 3
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
FORMAT_NAME = "sfp-framestore"

MANIFEST_FILE = "_manifest.json"
INDEX_FILE = "_index.parquet"
ERRORS_FILE = "_errors.parquet"
SEGMENTS_FILE = "_segments.parquet"  # only in stores of long videos cut into segments (AVA)
SHARDS_DIR = "shards"
VERSIONS_DIR = "_versions"  # appended stores: `<version:06d>/` holds that version's manifest and tables

# One row per stored clip in the shards of a version-1 store.
CLIP_SCHEMA = pa.schema(
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("label", pa.string()),  # class name; null for unlabelled data
        pa.field("label_id", pa.int32()),  # index into the manifest's class list; -1 when unlabelled
        pa.field("split", pa.string()),
        pa.field("source_path", pa.string()),  # the source video, as given by the dataset manifest
        pa.field("start_sec", pa.float64()),  # window cut from the source (null: the whole file)
        pa.field("end_sec", pa.float64()),
        pa.field("fps", pa.float32()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("num_frames", pa.int32()),
        pa.field("timestamps", pa.list_(pa.float32())),  # seconds from the window start, one per frame
        pa.field("frames", pa.list_(pa.binary())),  # one JPEG per frame, RGB, 8 bit
    ]
)

# One row per frame in the shards of a version-2 store. A clip's frames are consecutive rows that start a row group;
# every row group holds `frames_per_row_group` frames of one clip (its last one the rest). The shard's key-value
# metadata says how many frames a row group holds and where each clip starts (`SHARD_LAYOUT_KEY`, JSON:
# {"frames_per_row_group": 16, "clips": [[clip_id, first_row_group, num_frames], ...]}), so that a reader finds
# frame `i` of the clip at row group `first_row_group + i // frames_per_row_group` from the footer alone.
FRAME_SCHEMA = pa.schema(
    [
        pa.field("timestamp", pa.float32(), nullable=False),  # seconds from the clip's first frame
        pa.field("frame", pa.binary(), nullable=False),  # one JPEG, RGB, 8 bit
    ]
)
SHARD_LAYOUT_KEY = "sfp.frame_rows"
FRAMES_PER_ROW_GROUP = 16  # a 64-frame window reads 5 row groups (80 frames); the footer grows 124 B per row group

# One row per stored clip in `_index.parquet`: everything but the frames, plus where the row lives.
INDEX_SCHEMA = pa.schema(
    [field for field in CLIP_SCHEMA if field.name not in ("timestamps", "frames")]
    + [
        pa.field("shard", pa.string()),  # path relative to the store root
        pa.field("row_group", pa.int32()),  # v2: the clip's first row group
        pa.field("row_in_group", pa.int32()),  # v2: always 0
    ]
)

ERROR_SCHEMA = pa.schema(
    [
        pa.field("clip_id", pa.string()),
        pa.field("source_path", pa.string()),
        pa.field("stage", pa.string()),  # locate | probe | decode | encode | write
        pa.field("reason", pa.string()),
    ]
)

# One row per stored segment of a long video, in `_segments.parquet`. A segment is an ordinary clip row; segments of
# one video do not overlap and follow each other on one frame grid: frame `first_frame + i` of the video's span is
# at `start_sec + i / fps`. A v1 reader that ignores this file still reads every segment as a clip.
SEGMENT_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("segment", pa.int32()),  # 0, 1, ... in time order
        pa.field("clip_id", pa.string(), nullable=False),  # the segment's row in the shards and the index
        pa.field("start_sec", pa.float64()),  # time of its first frame in the source video
        pa.field("fps", pa.float32()),
        pa.field("first_frame", pa.int64()),  # index of its first frame on the video's frame grid
        pa.field("num_frames", pa.int32()),
    ]
)

"""Arrow schemas of the frame store, version 1. Any change that a v1 reader cannot read bumps SCHEMA_VERSION."""

import pyarrow as pa

SCHEMA_VERSION = 1
FORMAT_NAME = "sfp-framestore"

MANIFEST_FILE = "_manifest.json"
INDEX_FILE = "_index.parquet"
ERRORS_FILE = "_errors.parquet"
SEGMENTS_FILE = "_segments.parquet"  # only in stores of long videos cut into segments (AVA)
SHARDS_DIR = "shards"

# One row per stored clip in the shards.
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

# One row per stored clip in `_index.parquet`: everything but the frames, plus where the row lives.
INDEX_SCHEMA = pa.schema(
    [field for field in CLIP_SCHEMA if field.name not in ("timestamps", "frames")]
    + [
        pa.field("shard", pa.string()),  # path relative to the store root
        pa.field("row_group", pa.int32()),
        pa.field("row_in_group", pa.int32()),
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

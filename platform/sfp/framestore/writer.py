"""Writing a frame store: shards first (each atomically), then the index and errors, then the manifest."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict
from typing import Any, Iterable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from sfp import storage
from sfp.framestore.manifest import Manifest, ShardInfo
from sfp.framestore.records import ClipRecord, EncodedClip, ErrorRecord
from sfp.framestore.schema import (
    CLIP_SCHEMA,
    ERROR_SCHEMA,
    ERRORS_FILE,
    INDEX_FILE,
    INDEX_SCHEMA,
    MANIFEST_FILE,
    SHARDS_DIR,
)


def shard_name_for(clip_ids: Iterable[str]) -> str:
    """A shard's file name is derived from the clips it holds, so that a rerun writes the same names."""
    digest = hashlib.sha1("\n".join(sorted(clip_ids)).encode()).hexdigest()[:20]
    return f"{SHARDS_DIR}/part-{digest}.parquet"


def _clips_table(clips: Sequence[EncodedClip]) -> pa.Table:
    columns = {name: [] for name in CLIP_SCHEMA.names}
    for clip in clips:
        row = asdict(clip)
        row["num_frames"] = clip.num_frames
        for name in CLIP_SCHEMA.names:
            columns[name].append(row[name])
    return pa.Table.from_pydict(columns, schema=CLIP_SCHEMA)


def write_shard(
    store_uri: str,
    relative_path: str,
    clips: Sequence[EncodedClip],
    clips_per_row_group: int = 1,
    compression: str = "none",
) -> tuple[ShardInfo, list[ClipRecord]]:
    """Write clips as one Parquet shard (atomically) and return its info and the clips' index records.

    `relative_path` comes from `shard_name_for(planned clip ids)`, so a rerun of the same plan writes the same
    names. JPEG bytes do not compress further, so shards are stored uncompressed by default.
    """
    if not clips:
        raise ValueError("write_shard needs at least one clip")
    table = _clips_table(clips)
    with storage.atomic_local_path(storage.join_uri(store_uri, relative_path)) as local_path:
        pq.write_table(
            table,
            local_path,
            row_group_size=clips_per_row_group,
            compression=compression,
            use_dictionary=["label", "split"],
            write_statistics=["clip_id"],
        )
        size = local_path.stat().st_size
    records = [
        ClipRecord(
            clip_id=clip.clip_id,
            label=clip.label,
            label_id=clip.label_id,
            split=clip.split,
            source_path=clip.source_path,
            start_sec=clip.start_sec,
            end_sec=clip.end_sec,
            fps=clip.fps,
            width=clip.width,
            height=clip.height,
            num_frames=clip.num_frames,
            shard=relative_path,
            row_group=position // clips_per_row_group,
            row_in_group=position % clips_per_row_group,
        )
        for position, clip in enumerate(clips)
    ]
    return ShardInfo(path=relative_path, rows=len(clips), bytes=size), records


def _write_table(uri: str, table: pa.Table) -> None:
    with storage.atomic_local_path(uri) as local_path:
        pq.write_table(table, local_path)


def finalize_store(
    store_uri: str,
    *,
    shards: Sequence[ShardInfo],
    records: Sequence[ClipRecord],
    errors: Sequence[ErrorRecord],
    classes: Sequence[str],
    source_rows: int,
    source: dict[str, Any],
    decode: dict[str, Any],
    code_version: str,
) -> Manifest:
    """Write `_index.parquet`, `_errors.parquet` and, last, `_manifest.json` (the commit point)."""
    if len(records) + len(errors) != source_rows:
        raise ValueError(
            f"frame store accounting is off: {len(records)} clips + {len(errors)} errors != {source_rows} rows"
        )
    records = sorted(records, key=lambda record: record.clip_id)
    index_columns = {name: [getattr(record, name) for record in records] for name in INDEX_SCHEMA.names}
    _write_table(storage.join_uri(store_uri, INDEX_FILE), pa.Table.from_pydict(index_columns, schema=INDEX_SCHEMA))
    error_columns = {name: [getattr(error, name) for error in errors] for name in ERROR_SCHEMA.names}
    _write_table(storage.join_uri(store_uri, ERRORS_FILE), pa.Table.from_pydict(error_columns, schema=ERROR_SCHEMA))
    manifest = Manifest(
        classes=list(classes),
        shards=sorted(shards, key=lambda shard: shard.path),
        source_rows=source_rows,
        clips=len(records),
        errors=len(errors),
        splits=dict(sorted(Counter(record.split for record in records).items())),
        source=source,
        decode=decode,
        code_version=code_version,
    )
    storage.write_text(storage.join_uri(store_uri, MANIFEST_FILE), manifest.to_json())
    return manifest

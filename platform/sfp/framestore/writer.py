"""Writing a frame store: shards first (each atomically), then the index and errors, then the manifest (the commit)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Iterable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from sfp import storage
from sfp.framestore.manifest import Manifest, ShardInfo
from sfp.framestore.records import ClipRecord, EncodedClip, ErrorRecord, SegmentRecord
from sfp.framestore.schema import (
    CLIP_SCHEMA,
    ERROR_SCHEMA,
    FRAME_SCHEMA,
    FRAMES_PER_ROW_GROUP,
    INDEX_SCHEMA,
    MANIFEST_FILE,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    SEGMENT_SCHEMA,
    SHARD_LAYOUT_KEY,
    SHARDS_DIR,
)


def shard_name_for(clip_ids: Iterable[str]) -> str:
    """A shard's file name is derived from the clips it holds, so that a rerun writes the same names."""
    digest = hashlib.sha1("\n".join(sorted(clip_ids)).encode()).hexdigest()[:20]
    return f"{SHARDS_DIR}/part-{digest}.parquet"


def _clips_table(clips: Sequence[EncodedClip]) -> pa.Table:
    columns = {name: [] for name in CLIP_SCHEMA.names}
    for clip in clips:
        for name in CLIP_SCHEMA.names:
            columns[name].append(getattr(clip, name))
    return pa.Table.from_pydict(columns, schema=CLIP_SCHEMA)


def _frames_table(clip: EncodedClip) -> pa.Table:
    return pa.Table.from_pydict({"timestamp": clip.timestamps, "frame": clip.frames}, schema=FRAME_SCHEMA)


class ShardWriter:
    """Write one Parquet shard clip by clip, so a worker holds at most one clip's frames (version 1: one row group
    of clips).

    Version-2 shards (the default) hold one row per frame, in row groups of `frames_per_row_group` consecutive frames
    of one clip, and say in their footer where each clip starts (`schema.FRAME_SCHEMA`); a reader fetches the few
    row groups a window of frames needs. `schema_version=1` writes the previous layout, one row per clip and
    `clips_per_row_group` clips per row group, for readers that know only that one.

    The shard appears at its final name only on `close()` (a temporary file is renamed or uploaded in one step);
    `abort()` (or leaving the `with` block on an exception) leaves nothing behind. JPEG bytes do not compress
    further, so shards are stored uncompressed by default.
    """

    def __init__(
        self,
        store_uri: str,
        relative_path: str,
        clips_per_row_group: int = 1,
        compression: str = "none",
        *,
        schema_version: int = SCHEMA_VERSION,
        frames_per_row_group: int = FRAMES_PER_ROW_GROUP,
    ):
        if schema_version not in READABLE_SCHEMA_VERSIONS:
            raise ValueError(f"cannot write frame store schema version {schema_version}")
        if schema_version >= 2 and clips_per_row_group != 1:
            raise ValueError("clips_per_row_group applies to version-1 shards; version 2 groups a clip's frames")
        if frames_per_row_group < 1:
            raise ValueError("frames_per_row_group must be at least 1")
        self.store_uri, self.relative_path = store_uri, relative_path
        self.clips_per_row_group, self.compression = clips_per_row_group, compression
        self.schema_version, self.frames_per_row_group = schema_version, frames_per_row_group
        self._stack = ExitStack()
        self._local_path: Path | None = None
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[EncodedClip] = []
        self._records: list[ClipRecord] = []
        self._clip_starts: list[tuple[str, int, int]] = []  # version 2: (clip_id, first row group, frames)
        self._row_groups = 0

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.abort()

    def add(self, clip: EncodedClip) -> None:
        if len(clip.timestamps) != clip.num_frames:
            raise ValueError(f"{clip.clip_id}: {clip.num_frames} frames but {len(clip.timestamps)} timestamps")
        position = len(self._records)
        if self.schema_version >= 2:
            if not clip.frames:
                raise ValueError(f"{clip.clip_id}: a clip needs at least one frame")
            row_group, row_in_group = self._row_groups, 0
        else:
            row_group, row_in_group = position // self.clips_per_row_group, position % self.clips_per_row_group
        self._records.append(ClipRecord.of(clip, self.relative_path, row_group, row_in_group))
        if self.schema_version >= 2:
            self._parquet_writer().write_table(_frames_table(clip), row_group_size=self.frames_per_row_group)
            self._clip_starts.append((clip.clip_id, row_group, clip.num_frames))
            self._row_groups += -(-clip.num_frames // self.frames_per_row_group)
            return
        self._pending.append(clip)
        if len(self._pending) == self.clips_per_row_group:
            self._flush()

    @property
    def rows(self) -> int:
        return len(self._records)

    def _parquet_writer(self) -> pq.ParquetWriter:
        if self._writer is None:
            self._local_path = self._stack.enter_context(
                storage.atomic_local_path(storage.join_uri(self.store_uri, self.relative_path))
            )
            if self.schema_version >= 2:  # no statistics, no dictionaries: every byte of the footer is read per open
                self._writer = pq.ParquetWriter(
                    self._local_path, FRAME_SCHEMA, compression=self.compression, use_dictionary=False,
                    write_statistics=False,
                )
            else:
                self._writer = pq.ParquetWriter(
                    self._local_path,
                    CLIP_SCHEMA,
                    compression=self.compression,
                    use_dictionary=["label", "split"],
                    write_statistics=["clip_id"],
                )
        return self._writer

    def _flush(self) -> None:
        """Version 1: write the pending clips as one row group."""
        if not self._pending:
            return
        self._parquet_writer().write_table(_clips_table(self._pending), row_group_size=len(self._pending))
        self._pending = []

    def close(self) -> tuple[ShardInfo, list[ClipRecord]]:
        """Finish the shard and put it in place; returns its info and the index records of its clips."""
        if not self._records:
            raise ValueError("a shard needs at least one clip")
        self._flush()
        assert self._writer is not None and self._local_path is not None
        if self.schema_version >= 2:
            layout = {"frames_per_row_group": self.frames_per_row_group, "clips": self._clip_starts}
            self._writer.add_key_value_metadata({SHARD_LAYOUT_KEY: json.dumps(layout, separators=(",", ":"))})
        self._writer.close()
        size = self._local_path.stat().st_size
        self._stack.close()  # renames (or uploads) the finished file
        return ShardInfo(path=self.relative_path, rows=len(self._records), bytes=size), self._records

    def abort(self) -> None:
        """Drop what was written: the temporary file goes, nothing is renamed or uploaded."""
        if self._writer is not None:
            self._writer.close()
        aborted = RuntimeError("shard aborted")
        self._stack.__exit__(RuntimeError, aborted, None)
        self._writer, self._pending = None, []


def write_shard(
    store_uri: str,
    relative_path: str,
    clips: Sequence[EncodedClip],
    clips_per_row_group: int = 1,
    compression: str = "none",
    *,
    schema_version: int = SCHEMA_VERSION,
    frames_per_row_group: int = FRAMES_PER_ROW_GROUP,
) -> tuple[ShardInfo, list[ClipRecord]]:
    """Write clips as one Parquet shard (atomically) and return its info and the clips' index records.

    `relative_path` comes from `shard_name_for(planned clip ids)`, so a rerun of the same plan writes the same
    names. To write clip by clip without holding them all, use `ShardWriter` (which also explains the layouts).
    """
    if not clips:
        raise ValueError("write_shard needs at least one clip")
    with ShardWriter(store_uri, relative_path, clips_per_row_group, compression, schema_version=schema_version,
                     frames_per_row_group=frames_per_row_group) as writer:
        for clip in clips:
            writer.add(clip)
        return writer.close()


def _write_table(uri: str, table: pa.Table) -> None:
    with storage.atomic_local_path(uri) as local_path:
        pq.write_table(table, local_path)


def write_tables(
    store_uri: str,
    tables: dict[str, str],
    records: Sequence[ClipRecord],
    errors: Sequence[ErrorRecord],
    segments: Sequence[SegmentRecord] = (),
) -> None:
    """Write the index, the errors and (only when there are segments) the segments at `tables`' paths. Each file
    is written whole in one step; they become the store's when a manifest that names them is committed."""
    records = sorted(records, key=lambda record: record.clip_id)
    ids = [record.clip_id for record in records]
    repeated = sorted({clip_id for clip_id, following in zip(ids, ids[1:]) if clip_id == following})
    if repeated:
        raise ValueError(f"clips stored twice: {repeated[:3]}")
    index_columns = {name: [getattr(record, name) for record in records] for name in INDEX_SCHEMA.names}
    error_columns = {name: [getattr(error, name) for error in errors] for name in ERROR_SCHEMA.names}
    for name, columns, schema in (("index", index_columns, INDEX_SCHEMA), ("errors", error_columns, ERROR_SCHEMA)):
        _write_table(storage.join_uri(store_uri, tables[name]), pa.Table.from_pydict(columns, schema=schema))
    if segments:
        stored = set(ids)
        missing = [segment.clip_id for segment in segments if segment.clip_id not in stored]
        if missing:
            raise ValueError(f"segments without a stored row: {missing[:3]}")
        segments = sorted(segments, key=lambda segment: (segment.video_id, segment.segment))
        columns = {name: [getattr(segment, name) for segment in segments] for name in SEGMENT_SCHEMA.names}
        table = pa.Table.from_pydict(columns, schema=SEGMENT_SCHEMA)
        _write_table(storage.join_uri(store_uri, tables["segments"]), table)


def store_manifest(
    *,
    shards: Sequence[ShardInfo],
    records: Sequence[ClipRecord],
    errors: Sequence[ErrorRecord],
    classes: Sequence[str],
    source_rows: int,
    source: dict[str, Any],
    decode: dict[str, Any],
    code_version: str,
    schema_version: int = SCHEMA_VERSION,
) -> Manifest:
    """The manifest of version 1 of a store that holds these rows (versions and tables are set by the caller for
    later versions)."""
    if len(records) + len(errors) != source_rows:
        raise ValueError(
            f"frame store accounting is off: {len(records)} clips + {len(errors)} errors != {source_rows} rows"
        )
    return Manifest(
        classes=list(classes),
        shards=sorted(shards, key=lambda shard: shard.path),
        source_rows=source_rows,
        clips=len(records),
        errors=len(errors),
        splits=dict(sorted(Counter(record.split for record in records).items())),
        source=source,
        decode=decode,
        code_version=code_version,
        schema_version=schema_version,
    )


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
    segments: Sequence[SegmentRecord] = (),
    schema_version: int = SCHEMA_VERSION,
) -> Manifest:
    """Commit version 1 of a store: write `_index.parquet`, `_errors.parquet`, `_segments.parquet` (only when there
    are segments) and, last, `_manifest.json` (the commit point). `schema_version` is the version the store is
    written as (1 or 2 only to make stores in older layouts, with shards written in that layout).
    Later versions are committed by `sfp.framestore.versions.commit_version`."""
    manifest = store_manifest(shards=shards, records=records, errors=errors, classes=classes,
                              source_rows=source_rows, source=source, decode=decode, code_version=code_version,
                              schema_version=schema_version)
    manifest.versions = [manifest.version_entry(added_rows=source_rows)]
    write_tables(store_uri, manifest.tables, records, errors, segments)
    storage.write_text(storage.join_uri(store_uri, MANIFEST_FILE), manifest.to_json())
    return manifest

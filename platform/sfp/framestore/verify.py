"""`verify_store`: read a whole frame store back and check it against its manifest (`sfp framestore verify`).

What a reader trusts, checked end to end: the manifest parses; `_index.parquet`, `_errors.parquet` (and
`_segments.parquet` where there is one) are readable and their counts are the manifest's (clips, errors, rows = clips
+ errors, clips per split, clips per shard); every shard the manifest lists is there with the manifest's size, its
footer says where each of the index's clips starts (version 2) or holds them (version 1), and every row group is read
in full: each frame is a whole JPEG (starts with SOI, ends with EOI; `decode=True` decodes every one) and each clip
has one timestamp per frame. Shards are checked in parallel, each read once.
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

from sfp import storage
from sfp.errors import FrameStoreError
from sfp.framestore.manifest import root_tables
from sfp.framestore.records import ClipRecord
from sfp.framestore.schema import SHARD_LAYOUT_KEY

JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"


@dataclass
class ShardReport:
    path: str
    clips: int = 0
    frames: int = 0
    bytes: int = 0
    problem: str | None = None  # None: the shard verified


@dataclass
class StoreReport:
    uri: str
    clips: int
    errors: int
    shards: list[ShardReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # store-level: the small tables against the manifest

    @property
    def bad_shards(self) -> list[ShardReport]:
        return [shard for shard in self.shards if shard.problem is not None]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.bad_shards

    def to_dict(self) -> dict:
        return {"uri": self.uri, "ok": self.ok, "clips": self.clips, "errors": self.errors,
                "frames": sum(shard.frames for shard in self.shards),
                "bytes": sum(shard.bytes for shard in self.shards), "problems": self.problems,
                "shards": [vars(shard) for shard in self.shards]}

    def first_problem(self) -> str:
        """One line: the first problem, naming its file, and how many more there are."""
        lines = self.problems + [f"{shard.path}: {shard.problem}" for shard in self.bad_shards]
        more = len(lines) - 1
        return lines[0] + (f" (and {more} more problem{'s' if more > 1 else ''}: --json lists them)" if more else "")


def verify_store(store, decode: bool = False, threads: int = 4,
                 on_shard: Callable[[ShardReport], None] | None = None) -> StoreReport:
    """Check `store` (an open `FrameStore`) against its manifest; never raises for damage it finds, it reports it."""
    manifest = store.manifest
    report = StoreReport(uri=store.uri, clips=manifest.clips, errors=manifest.errors)
    tables = {**root_tables(), **(getattr(manifest, "tables", None) or {})}  # this version's (appended stores)
    records = _read_table(report, tables["index"], lambda: store.records)
    errors = _read_table(report, tables["errors"], store.errors)
    if records is not None:
        _check_counts(report, manifest, records, errors, tables)
        _check_segments(report, store, records, tables["segments"])
    by_shard: dict[str, list[ClipRecord]] = {}
    for record in records or []:
        by_shard.setdefault(record.shard, []).append(record)

    def check(info) -> ShardReport:
        shard = verify_shard(storage.join_uri(store.uri, info.path), info, by_shard.get(info.path, []),
                             decode=decode, index_read=records is not None)
        if on_shard is not None:
            on_shard(shard)
        return shard

    with ThreadPoolExecutor(max(1, threads)) as pool:
        report.shards = list(pool.map(check, manifest.shards))
    return report


def _read_table(report: StoreReport, name: str, read: Callable[[], list]) -> list | None:
    import pyarrow as pa

    try:
        return read()
    except (pa.ArrowException, OSError, FrameStoreError) as error:
        report.problems.append(f"{name}: cannot read it ({_first_line(error)})")
    except Exception as error:  # storage errors (sfp.errors.StorageError) and rows of another schema
        report.problems.append(f"{name}: {_first_line(error)}")
    return None


def _check_counts(report: StoreReport, manifest, records: list[ClipRecord], errors: list | None,
                  tables: dict[str, str]) -> None:
    problems, index = report.problems, tables["index"]
    if len(records) != manifest.clips:
        problems.append(f"{index}: {len(records)} clips, the manifest says {manifest.clips}")
    if errors is not None and len(errors) != manifest.errors:
        problems.append(f"{tables['errors']}: {len(errors)} rows, the manifest says {manifest.errors}")
    if manifest.clips + manifest.errors != manifest.source_rows:
        problems.append(f"_manifest.json: {manifest.clips} clips + {manifest.errors} errors != "
                        f"{manifest.source_rows} rows")
    splits = dict(Counter(record.split for record in records))
    if splits != dict(manifest.splits):
        problems.append(f"{index}: clips per split {splits}, the manifest says {dict(manifest.splits)}")
    listed = {shard.path for shard in manifest.shards}
    unlisted = sorted({record.shard for record in records} - listed)
    if unlisted:
        problems.append(f"{index}: clips in {len(unlisted)} shard(s) the manifest does not list, "
                        f"{unlisted[0]} first")
    duplicates = [clip_id for clip_id, count in Counter(record.clip_id for record in records).items() if count > 1]
    if duplicates:
        problems.append(f"{index}: {len(duplicates)} clip id(s) stored more than once, {duplicates[0]!r} first")


def _check_segments(report: StoreReport, store, records: list[ClipRecord], table: str) -> None:
    if not storage.exists(storage.join_uri(store.uri, table)):
        return
    try:
        videos = {video: store.segments(video) for video in store.videos()}
    except Exception as error:
        report.problems.append(f"{table}: cannot read it ({_first_line(error)})")
        return
    known = {record.clip_id: record for record in records}
    for video, segments in videos.items():
        for segment in segments:
            record = known.get(segment.clip_id)
            if record is None:
                report.problems.append(f"{table}: segment {segment.clip_id!r} of {video!r} is not in the index")
                return
            if record.num_frames != segment.num_frames:
                report.problems.append(f"{table}: segment {segment.clip_id!r} has {segment.num_frames} "
                                       f"frames, the index {record.num_frames}")
                return


def verify_shard(uri: str, info, records: Sequence[ClipRecord], decode: bool = False,
                 index_read: bool = True) -> ShardReport:
    """Read one shard whole; `records` are the index's clips in it (their ids, first row groups, frame counts)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    report = ShardReport(path=info.path)
    fs, location = storage.open_location(uri)
    try:
        report.bytes = size = fs.size(location.path)
    except FileNotFoundError:
        report.problem = "missing"
        return report
    except Exception as error:
        report.problem = f"cannot reach it ({_first_line(error)})"
        return report
    if size != info.bytes:
        report.problem = f"{size} bytes, the manifest says {info.bytes}"
        return report
    if index_read and len(records) != info.rows:
        report.problem = f"the index has {len(records)} clips in it, the manifest says {info.rows}"
        return report
    try:
        with storage.open_for_read(uri) as handle:
            parquet = pq.ParquetFile(handle)
            layout = (parquet.metadata.metadata or {}).get(SHARD_LAYOUT_KEY.encode())
            check = _check_v2 if layout is not None else _check_v1
            report.problem = check(parquet, layout, records, report, decode, index_read)
    except (pa.ArrowException, OSError) as error:
        report.problem = f"cannot read this Parquet file, damaged or truncated: {_first_line(error)}"
    except Exception as error:  # storage errors while reading
        report.problem = _first_line(error)
    return report


def _check_v2(parquet, layout: bytes, records: Sequence[ClipRecord], report: ShardReport, decode: bool,
              index_read: bool) -> str | None:
    description = json.loads(layout)
    per_group = description["frames_per_row_group"]
    clips = [(clip_id, first, frames) for clip_id, first, frames in description["clips"]]
    if index_read:
        expected = sorted((record.clip_id, record.row_group, record.num_frames) for record in records)
        if sorted(clips) != expected:
            return "its footer's clips (id, first row group, frames) are not the index's"
    report.clips = len(clips)
    groups_of = {}
    for clip_id, first, frames in clips:
        for offset in range(-(-frames // per_group)):
            groups_of[first + offset] = (clip_id, min(per_group, frames - offset * per_group))
    if sorted(groups_of) != list(range(parquet.num_row_groups)):
        return f"{parquet.num_row_groups} row groups, its footer's clips cover {len(groups_of)}"
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=["timestamp", "frame"], use_threads=False)
        clip_id, rows = groups_of[group]
        if table.num_rows != rows:
            return f"row group {group} ({clip_id!r}) has {table.num_rows} frames, its footer says {rows}"
        problem = _check_frames(table.column("frame").to_pylist(), f"clip {clip_id!r}, row group {group}", decode)
        if problem:
            return problem
        report.frames += rows
    return None


def _check_v1(parquet, layout, records: Sequence[ClipRecord], report: ShardReport, decode: bool,
              index_read: bool) -> str | None:
    expected = {record.clip_id: record.num_frames for record in records}
    found: dict[str, int] = {}
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=["clip_id", "num_frames", "timestamps", "frames"],
                                       use_threads=False)
        for clip_id, num_frames, timestamps, frames in zip(*(table.column(name).to_pylist() for name in
                                                             ("clip_id", "num_frames", "timestamps", "frames"))):
            if len(frames) != num_frames or len(timestamps) != num_frames:
                return f"clip {clip_id!r}: {len(frames)} frames and {len(timestamps)} timestamps, it says {num_frames}"
            problem = _check_frames(frames, f"clip {clip_id!r}", decode)
            if problem:
                return problem
            found[clip_id] = num_frames
            report.frames += num_frames
    report.clips = len(found)
    if index_read and found != expected:
        return "its clips (ids, frames) are not the index's"
    return None


def _check_frames(frames: list[bytes], where: str, decode: bool) -> str | None:
    """`where`: the clip (and row group) the frames are of, for the message."""
    import io

    from PIL import Image, UnidentifiedImageError

    for position, data in enumerate(frames):
        if not (data.startswith(JPEG_START) and data.rstrip(b"\x00").endswith(JPEG_END)):
            return f"{where}: frame {position} is not a whole JPEG"
        if decode:
            try:
                Image.open(io.BytesIO(data)).load()
            except (UnidentifiedImageError, OSError) as error:
                return f"{where}: frame {position} does not decode ({_first_line(error)})"
    return None


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]

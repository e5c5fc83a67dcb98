"""Reading a frame store: open from its manifest, plan from its index, read one clip's frames on demand."""

from __future__ import annotations

import io
from collections import OrderedDict
from functools import cached_property
from typing import NamedTuple, Sequence

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from sfp import storage
from sfp.errors import FrameStoreError, StorageError
from sfp.framestore.manifest import Manifest
from sfp.framestore.records import ClipRecord, ErrorRecord, SegmentRecord
from sfp.framestore.schema import MANIFEST_FILE
from sfp.framestore.segments import frame_positions
from sfp.framestore.shards import OpenShard
from sfp.framestore.versions import read_version_manifest


class ClipLocation(NamedTuple):
    """Where a clip's row lives (version 2: its first row group, row 0); a `ClipRecord` carries the same fields."""

    shard: str
    row_group: int
    row_in_group: int


def decode_jpeg(data: bytes, max_short_side: int | None = None) -> np.ndarray:
    """Decode one JPEG frame to `[H, W, 3]` uint8 RGB.

    With `max_short_side`, libjpeg's DCT scaling decodes at the smallest power-of-two reduction that keeps the
    short side at least that large: much cheaper than decoding at full size and resizing.
    """
    image = Image.open(io.BytesIO(data))
    if max_short_side is not None:
        width, height = image.size
        scale = min(width, height) / max_short_side
        if scale >= 2:
            image.draft("RGB", (int(width / scale), int(height / scale)))
    return np.asarray(image.convert("RGB"))


class FrameStore:
    """A committed frame store, at one version. `FrameStore.open(uri)` reads only the manifest; the index is read on
    first use, from the tables that manifest names: a store opened before an append commits keeps reading its version.

    Shards are opened on first read and the last `max_open_shards` stay open (their footers read once): reading a
    clip of an open version-2 shard is one ranged read of the row groups its frames live in.
    """

    def __init__(self, uri: str, manifest: Manifest, max_open_shards: int = 8) -> None:
        self.uri = uri
        self.manifest = manifest
        self._max_open_shards = max_open_shards
        self._open_shards: OrderedDict[str, OpenShard] = OrderedDict()

    @classmethod
    def open(cls, uri: str, version: int | None = None) -> "FrameStore":
        """The store's current version (its `_manifest.json`), or an earlier `version` of it."""
        manifest_uri = storage.join_uri(uri, MANIFEST_FILE)
        try:
            text = storage.read_text(manifest_uri)
        except StorageError as error:
            if "not found" in str(error):
                raise FrameStoreError(
                    f"{uri}: no frame store here ({MANIFEST_FILE} missing: never written, or still being written)"
                ) from None
            raise
        manifest = Manifest.from_json(text, where=manifest_uri)
        if version is not None:
            manifest = read_version_manifest(uri, manifest, version)
        return cls(uri, manifest)

    def table_uri(self, name: str) -> str:
        """Where this version's `index`, `errors` or `segments` table is."""
        return storage.join_uri(self.uri, self.manifest.tables[name])

    def __getstate__(self) -> dict:  # picklable for Ray tasks: open file handles stay behind
        state = self.__dict__.copy()
        state["_open_shards"] = OrderedDict()
        for cached in ("records", "_records_by_id", "_segments_by_video"):
            state.pop(cached, None)
        return state

    @cached_property
    def records(self) -> list[ClipRecord]:
        with storage.open_for_read(self.table_uri("index")) as handle:
            table = pq.read_table(handle)
        return [ClipRecord(**row) for row in table.to_pylist()]

    @cached_property
    def _records_by_id(self) -> dict[str, ClipRecord]:
        return {record.clip_id: record for record in self.records}

    def clips(self, split: str | None = None) -> list[ClipRecord]:
        return [record for record in self.records if split is None or record.split == split]

    def record(self, clip_id: str) -> ClipRecord:
        try:
            return self._records_by_id[clip_id]
        except KeyError:
            raise FrameStoreError(f"{self.uri}: no clip {clip_id!r}") from None

    @cached_property
    def _segments_by_video(self) -> dict[str, list[SegmentRecord]]:
        uri = self.table_uri("segments")
        if not storage.exists(uri):
            return {}
        with storage.open_for_read(uri) as handle:
            table = pq.read_table(handle)
        by_video: dict[str, list[SegmentRecord]] = {}
        for row in table.to_pylist():
            by_video.setdefault(row["video_id"], []).append(SegmentRecord(**row))
        return {video: sorted(rows, key=lambda row: row.segment) for video, rows in by_video.items()}

    def videos(self) -> list[str]:
        """Ids of the long videos stored as segments (empty for a store of clips)."""
        return sorted(self._segments_by_video)

    def segments(self, video_id: str) -> list[SegmentRecord]:
        """One video's segments in time order (`_segments.parquet`)."""
        try:
            return self._segments_by_video[video_id]
        except KeyError:
            raise FrameStoreError(f"{self.uri}: no segmented video {video_id!r}") from None

    def read_span_jpegs(self, video_id: str, times_sec: Sequence[float]) -> list[bytes]:
        """The JPEG frames of a segmented video nearest to `times_sec` (seconds in the source video), reading
        each segment involved once: a window that straddles two segments reads both."""
        segments = self.segments(video_id)
        positions = frame_positions(video_id, segments, times_sec)
        wanted: dict[int, list[int]] = {}
        for position, index in positions:
            wanted.setdefault(position, []).append(index)
        found: dict[tuple[int, int], bytes] = {}
        for position, indices in wanted.items():
            unique = sorted(set(indices))
            jpegs = self.read_jpegs(self.record(segments[position].clip_id), unique)
            found.update({(position, index): jpeg for index, jpeg in zip(unique, jpegs)})
        return [found[key] for key in positions]

    def read_span(self, video_id: str, times_sec: Sequence[float], max_short_side: int | None = None) -> np.ndarray:
        """Decode the frames of a segmented video nearest to `times_sec`: `[T, H, W, 3]` uint8 RGB. With
        `sfp.framestore.window_times(keyframe_sec, 32, 2, fps)` this is an AVA keyframe's input window."""
        return np.stack([decode_jpeg(data, max_short_side) for data in self.read_span_jpegs(video_id, times_sec)])

    def errors(self) -> list[ErrorRecord]:
        with storage.open_for_read(self.table_uri("errors")) as handle:
            table = pq.read_table(handle)
        return [ErrorRecord(**row) for row in table.to_pylist()]

    def _shard(self, relative_path: str) -> OpenShard:
        shard = self._open_shards.pop(relative_path, None)
        if shard is None:
            uri = storage.join_uri(self.uri, relative_path)
            handle = None
            try:  # on S3 a missing shard shows at the first read, the footer's
                handle = storage.open_ranged(uri)
                shard = OpenShard(relative_path, handle)
            except BaseException as error:
                if handle is not None:
                    handle.close()
                if isinstance(error, FileNotFoundError):
                    raise FrameStoreError(f"{self.uri}: shard {relative_path} is missing") from None
                raise
        self._open_shards[relative_path] = shard
        while len(self._open_shards) > self._max_open_shards:
            self._open_shards.popitem(last=False)[1].close()
        return shard

    def read_jpegs(self, record: ClipRecord | ClipLocation, frame_indices: Sequence[int] | None = None) -> list[bytes]:
        """The JPEG bytes of a clip's frames (all, or the given indices), in the order asked. Version 2 reads only
        the row groups that hold them (one ranged read for a window), version 1 the clip's whole row group."""
        return self._shard(record.shard).read_jpegs(record.row_group, record.row_in_group, frame_indices)

    def read_timestamps(self, record: ClipRecord | ClipLocation) -> list[float]:
        """Every frame's time in seconds from the clip's first frame."""
        return self._shard(record.shard).read_timestamps(record.row_group, record.row_in_group)

    def read_frames(
        self, clip: ClipRecord | ClipLocation | str, frame_indices: Sequence[int] | None = None, max_short_side: int | None = None
    ) -> np.ndarray:
        """Decode only the requested frames of one clip: `[T, H, W, 3]` uint8 RGB."""
        record = self.record(clip) if isinstance(clip, str) else clip
        jpegs = self.read_jpegs(record, frame_indices)
        return np.stack([decode_jpeg(data, max_short_side) for data in jpegs])

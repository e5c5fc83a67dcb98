"""An open shard of either layout: the frames and timestamps of one clip, reading only the row groups they live in.

A version-1 shard (`schema.CLIP_SCHEMA`) holds one row per clip: any frame of a clip is read with the whole clip's
column chunk. A version-2 shard (`schema.FRAME_SCHEMA`) holds one row per frame in row groups of
`frames_per_row_group` frames of one clip: frame `i` of the clip that starts at row group `g` is row
`i % frames_per_row_group` of row group `g + i // frames_per_row_group`, and the row groups a window needs are
adjacent in the file, so Parquet's `pre_buffer` fetches them in one ranged read. The layout is told by the shard's
own footer, so a store resumed across the version change (some shards of each layout) still reads right.
"""

from __future__ import annotations

import json
from typing import IO, Sequence

import pyarrow.parquet as pq

from sfp.errors import FrameStoreError
from sfp.framestore.schema import SHARD_LAYOUT_KEY


class OpenShard:
    """A Parquet shard whose footer has been read; `read_*` fetch only the column chunks they need."""

    def __init__(self, name: str, handle: IO[bytes]) -> None:
        self.name, self._handle = name, handle
        self.parquet = pq.ParquetFile(handle, pre_buffer=True)  # adjacent column chunks: one coalesced read
        layout = (self.parquet.metadata.metadata or {}).get(SHARD_LAYOUT_KEY.encode())
        self.version = 2 if layout is not None else 1
        if layout is not None:
            description = json.loads(layout)
            self.frames_per_row_group: int = description["frames_per_row_group"]
            self._num_frames = {first: frames for _, first, frames in description["clips"]}

    def close(self) -> None:
        self._handle.close()

    def read_jpegs(self, row_group: int, row_in_group: int, frame_indices: Sequence[int] | None) -> list[bytes]:
        if self.version == 1:
            frames = self.parquet.read_row_group(row_group, columns=["frames"]).column("frames")[row_in_group].values
            if frame_indices is None:
                return frames.to_pylist()
            return [frames[int(index)].as_py() for index in frame_indices]
        indices = self._frame_indices(row_group, row_in_group, frame_indices)
        return self._read_rows(row_group, indices, "frame")

    def read_timestamps(self, row_group: int, row_in_group: int) -> list[float]:
        if self.version == 1:
            column = self.parquet.read_row_group(row_group, columns=["timestamps"]).column("timestamps")
            return column[row_in_group].as_py()
        return self._read_rows(row_group, self._frame_indices(row_group, row_in_group, None), "timestamp")

    def _frame_indices(self, row_group: int, row_in_group: int, frame_indices: Sequence[int] | None) -> list[int]:
        num_frames = self._num_frames.get(row_group) if row_in_group == 0 else None
        if num_frames is None:
            raise FrameStoreError(f"{self.name}: no clip starts at row group {row_group}, row {row_in_group}")
        if frame_indices is None:
            return list(range(num_frames))
        indices = [int(index) for index in frame_indices]
        outside = [index for index in indices if not 0 <= index < num_frames]
        if outside:
            raise FrameStoreError(f"{self.name}: frame {outside[0]} of a clip of {num_frames} frames")
        return indices

    def _read_rows(self, first_row_group: int, indices: list[int], column: str) -> list:
        """Column `column` at the given frame indices of the clip that starts at `first_row_group`, reading each
        row group involved once."""
        per_group = self.frames_per_row_group
        groups = sorted({first_row_group + index // per_group for index in indices})
        values = self.parquet.read_row_groups(groups, columns=[column], use_threads=False).column(column)
        values = values.combine_chunks()
        start_of = {group: position * per_group for position, group in enumerate(groups)}  # all but a clip's last
        return [values[start_of[first_row_group + index // per_group] + index % per_group].as_py() for index in indices]

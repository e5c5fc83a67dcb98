"""Frame-store files that cannot be read, reported as one line that names the file, for the commands that read."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterable, Iterator

from sfp.errors import FrameStoreError

if TYPE_CHECKING:
    from sfp.framestore import FrameStore


@contextmanager
def readable(uri: str) -> Iterator[None]:
    """Turn an error reading a damaged Parquet file or JPEG frame at `uri` into one `FrameStoreError` naming it."""
    import pyarrow as pa
    from PIL import UnidentifiedImageError

    try:
        yield
    except pa.ArrowException as error:
        reason = _first_line(error)
        raise FrameStoreError(f"cannot read this Parquet file, damaged or truncated: {reason} ({uri})") from None
    except UnidentifiedImageError:
        raise FrameStoreError(f"a stored frame is not a readable JPEG ({uri})") from None


def check_shards(store: FrameStore, shards: Iterable[str], threads: int = 8) -> None:
    """Read the footer of each shard (a few small reads each, in parallel): a damaged shard stops a command before it
    starts a cluster, instead of failing inside one of its tasks."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    from sfp import storage

    def check(shard: str) -> None:
        uri = storage.join_uri(store.uri, shard)
        with readable(uri), storage.open_for_read(uri) as handle:
            pq.ParquetFile(handle)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(check, sorted(set(shards))))


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]

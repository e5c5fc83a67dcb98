"""A shard's done marker (`shards/part-<hash>.done.json`): what a resumed job reuses instead of redoing the shard,
and what it checks before it does.

The marker is the shard task's `ShardResult` (index rows, errors, segments, source statistics) plus what makes it
checkable: the decode settings and a hash of the shard's plan (its clips, files, windows, labels and label ids) it
was written with, and what the shard file was once written: its size, the row count of its Parquet footer and a
checksum (`sha256:` of a local file, the S3 `etag:` of an object), read back from the file itself. A rerun reuses a
marker only when it was written with the same decode settings and plan, and the shard file beside it is still that
file: there, of that size, with a readable footer of that row count (and on S3 the same ETag, which the same request
returns). Anything else is redone, and the rerun's summary says why. A local sha256 is not recomputed on resume:
that would read every finished shard again; it is there to check a copy of the store.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import pyarrow.parquet as pq

from sfp import storage
from sfp_preprocess.clips import SourceClip
from sfp_preprocess.summary import ShardResult

MARKER_VERSION = 2  # 1: the bare ShardResult, nothing to check it by (such markers are redone)


def marker_uri(store_uri: str, shard_path: str) -> str:
    return storage.join_uri(store_uri, shard_path.replace(".parquet", ".done.json"))


def plan_sha256(clips: Iterable[SourceClip], class_ids: dict[str, int]) -> str:
    """What the shard was asked to hold: every clip as planned, with the label id it gets."""
    plan = [{**clip.to_dict(), "label_id": class_ids.get(clip.label, -1) if clip.label else -1} for clip in clips]
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class MarkerKey:
    """What a marker must have been written with to be reused."""

    decode: dict[str, Any]
    plan_sha256: str


@dataclass(frozen=True)
class ShardFile:
    """A shard file as it was once written."""

    bytes: int
    footer_rows: int  # rows in its Parquet footer, whatever a row is in the store's layout
    checksum: str  # "sha256:<hex>" (local) or "etag:<ETag>" (S3)


def _etag(info: dict) -> str | None:
    etag = info.get("ETag") or info.get("etag")
    return f"etag:{str(etag).strip(chr(34))}" if etag else None


def _footer_rows(fs, path: str) -> int:
    with fs.open(path, "rb") as handle:
        return pq.ParquetFile(handle).metadata.num_rows


def measure_shard(store_uri: str, shard_path: str) -> ShardFile:
    """Read a just-written shard file back: its size, footer row count and checksum."""
    fs, location = storage.open_location(storage.join_uri(store_uri, shard_path))
    info = fs.info(location.path)
    checksum = _etag(info) if not location.is_local else None
    if checksum is None:
        digest = hashlib.sha256()
        with fs.open(location.path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
        checksum = f"sha256:{digest.hexdigest()}"
    return ShardFile(int(info["size"]), _footer_rows(fs, location.path), checksum)


def verify_shard(store_uri: str, shard_path: str, written: ShardFile) -> str | None:
    """None when the shard file is still the one `written` describes, else what is wrong with it. Reads its size
    and its Parquet footer only (on S3: a HEAD and a range request or two)."""
    fs, location = storage.open_location(storage.join_uri(store_uri, shard_path))
    try:
        info = fs.info(location.path)
    except FileNotFoundError:
        return "its shard file is missing"
    if int(info["size"]) != written.bytes:
        return f"its shard file has {info['size']} bytes, the marker says {written.bytes}"
    if written.checksum.startswith("etag:") and _etag(info) != written.checksum:
        return f"its shard object's {_etag(info)} is not the marker's {written.checksum}"
    try:
        rows = _footer_rows(fs, location.path)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... on a damaged footer
        return f"its shard file's Parquet footer is unreadable ({str(error).splitlines()[0][:120]})"
    if rows != written.footer_rows:
        return f"its shard file's footer counts {rows} rows, the marker says {written.footer_rows}"
    return None


def write_marker(uri: str, result: ShardResult, key: MarkerKey, shard_file: ShardFile | None) -> None:
    data = json.loads(result.to_json())
    data.update(marker_version=MARKER_VERSION, decode=key.decode, plan_sha256=key.plan_sha256,
                shard_file=asdict(shard_file) if shard_file else None)
    storage.write_text(uri, json.dumps(data))


def _settings_change(written: dict[str, Any], now: dict[str, Any]) -> str:
    changed = sorted(name for name in set(written) | set(now) if written.get(name) != now.get(name))
    return ", ".join(f"{name} {written.get(name)} -> {now.get(name)}" for name in changed)


def reusable_result(store_uri: str, uri: str, key: MarkerKey) -> tuple[ShardResult | None, str]:
    """The result a previous run recorded at `uri`, when it may be reused; otherwise None and why not ("" when
    there is no marker at all)."""
    if not storage.exists(uri):
        return None, ""
    try:
        data = json.loads(storage.read_text(uri))
        result = ShardResult.from_json(json.dumps(data))
        written = ShardFile(**data["shard_file"]) if data.get("shard_file") else None
    except (ValueError, KeyError, TypeError) as error:
        return None, f"its marker is unreadable ({type(error).__name__})"
    if data.get("marker_version") != MARKER_VERSION:
        return None, f"its marker is of version {data.get('marker_version', 1)}, not {MARKER_VERSION}"
    if data.get("decode") != key.decode:
        return None, f"it was decoded with other settings ({_settings_change(data.get('decode') or {}, key.decode)})"
    if data.get("plan_sha256") != key.plan_sha256:
        return None, "it was planned with other clips, files, windows or labels"
    if result.shard is not None:
        problem = verify_shard(store_uri, result.shard.path, written) if written else "its marker lacks the file"
        if problem is not None:
            return None, problem
    return result, ""

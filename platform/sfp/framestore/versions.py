"""Versions of a frame store: a store grows by appending clips, and each append commits a new version.

Version 1 is the store as first written (its tables at the root). Version `n > 1` keeps its own tables and a copy
of its manifest in `_versions/<n:06d>-<hash>/`, and lists every shard of the store, old and new. Committing it is
one write of `_manifest.json` (a rename of a finished file locally, one PUT on S3: either way a reader gets the old
object or the new one), so a reader never sees half a version: until that write it reads the previous version,
whose manifest, tables and shards nothing changes; after it, the new one. A reader that opened the store before
keeps reading the version it opened. Older versions stay readable by number (`FrameStore.open(uri, version=n)`) as
long as the store exists: versions only add shards.
"""

from __future__ import annotations

import hashlib
import posixpath
from typing import Any, Sequence

from sfp import storage
from sfp.errors import FrameStoreError
from sfp.framestore.manifest import Manifest, ShardInfo, StoreVersion, root_tables
from sfp.framestore.records import ClipRecord, ErrorRecord, SegmentRecord
from sfp.framestore.schema import MANIFEST_FILE, SCHEMA_VERSION, VERSIONS_DIR
from sfp.framestore.writer import store_manifest, write_tables


def version_folder(version: int, added_rows: Sequence[str] = ()) -> str:
    """`_versions/000001` for version 1 (its manifest only: its tables are at the root); `_versions/<n>-<hash of the
    rows it adds>` for a later one, so that two jobs appending onto the same version never write into one folder,
    while an interrupted append that is rerun writes the same one again."""
    if version == 1:
        return posixpath.join(VERSIONS_DIR, f"{version:06d}")
    digest = hashlib.sha1("\n".join(sorted(added_rows)).encode()).hexdigest()[:12]
    return posixpath.join(VERSIONS_DIR, f"{version:06d}-{digest}")


def version_manifest_path(entry: StoreVersion) -> str:
    """Where the manifest of a version is kept once a later version exists (relative to the store root)."""
    return posixpath.join(entry.folder or version_folder(1), MANIFEST_FILE)


def read_version_manifest(uri: str, current: Manifest, version: int) -> Manifest:
    """The manifest of `version` of the store at `uri` whose current manifest is `current`."""
    if version == current.version:
        return current
    entries = {entry.version: entry for entry in current.versions}
    if version not in entries:
        listed = ", ".join(str(number) for number in entries)
        raise FrameStoreError(f"{uri}: no version {version} (versions: {listed})")
    where = storage.join_uri(uri, version_manifest_path(entries[version]))
    return Manifest.from_json(storage.read_text(where), where=where)


def _check_base(store_uri: str, base_text: str) -> None:
    if storage.read_text(storage.join_uri(store_uri, MANIFEST_FILE)) != base_text:
        raise FrameStoreError(
            f"{store_uri}: another job committed a version of this store while this one ran; nothing was "
            "committed: rerun to append onto the new version"
        )


def commit_version(
    store_uri: str,
    base: Manifest,
    *,
    base_text: str,
    base_records: Sequence[ClipRecord],
    base_errors: Sequence[ErrorRecord],
    base_segments: Sequence[SegmentRecord],
    shards: Sequence[ShardInfo],
    records: Sequence[ClipRecord],
    errors: Sequence[ErrorRecord],
    segments: Sequence[SegmentRecord] = (),
    classes: Sequence[str],
    source: dict[str, Any],
    code_version: str,
) -> Manifest:
    """Commit version `base.version + 1` of the store: `base`'s rows and shards plus the new ones.

    `base_text` is `_manifest.json` as it was read when the job planned its work; if it changed since (another
    job committed a version meanwhile), nothing is committed and this raises `FrameStoreError` (checked before
    anything is written and again just before the commit; S3 has no compare-and-swap here, so two appends that
    reach that last instant together are not told apart: run one append per store at a time). Writes the new
    version's tables and manifest copy into its own folder (`version_folder`), a copy of the base manifest into its
    folder (`_versions/000001/` for version 1), and last replaces `_manifest.json`."""
    if list(classes[: len(base.classes)]) != base.classes:
        raise ValueError("an appended version keeps the class list of the one before (label ids are positions)")
    stored_paths = {shard.path for shard in base.shards}
    reused = sorted(shard.path for shard in shards if shard.path in stored_paths)
    if reused:
        raise ValueError(f"shards already in version {base.version}: {reused[:3]}")
    _check_base(store_uri, base_text)
    version = base.version + 1
    folder = version_folder(version, [row.clip_id for row in [*records, *errors]])
    all_records, all_errors = [*base_records, *records], [*base_errors, *errors]
    manifest = store_manifest(
        shards=[*base.shards, *shards], records=all_records, errors=all_errors, classes=classes,
        source_rows=base.source_rows + len(records) + len(errors), source=source, decode=base.decode,
        code_version=code_version, schema_version=SCHEMA_VERSION,
    )
    manifest.version = version
    manifest.tables = {name: posixpath.join(folder, path) for name, path in root_tables().items()}
    manifest.versions = [*base.versions, manifest.version_entry(len(records) + len(errors), folder)]
    write_tables(store_uri, manifest.tables, all_records, all_errors, [*base_segments, *segments])
    # the base's copy (written again: a folder left by a store that was replaced must not speak for this one)
    storage.write_text(storage.join_uri(store_uri, version_manifest_path(base.versions[-1])), base_text)
    storage.write_text(storage.join_uri(store_uri, folder, MANIFEST_FILE), manifest.to_json())
    _check_base(store_uri, base_text)  # again: a job that committed meanwhile is not overwritten
    storage.write_text(storage.join_uri(store_uri, MANIFEST_FILE), manifest.to_json())
    return manifest

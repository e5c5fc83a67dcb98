"""`sfp preprocess --overwrite`: remove the frame store at the output before the job writes a new one there.

Only a frame store's own files are removed (its manifest first, the commit point, so that no reader sees a store
whose shards are going; then its tables, shards, done markers, interrupted writes and the manifests and tables of
appended versions under `_versions/`); anything else in the folder stays, and so do the folders. Before anything is
removed, the dataset's manifest or video root must exist: a mistyped source does not cost the old store.
"""

from __future__ import annotations

from sfp import storage
from sfp.errors import ConfigError
import re

from sfp.framestore.schema import ERRORS_FILE, INDEX_FILE, MANIFEST_FILE, SEGMENTS_FILE, SHARDS_DIR, VERSIONS_DIR

TABLES = (INDEX_FILE, ERRORS_FILE, SEGMENTS_FILE)
SHARD_SUFFIXES = (".parquet", ".done.json", ".tmp")
VERSION_FOLDER = re.compile(r"^\d{6}(-[0-9a-f]{12})?$")  # `_versions/<n:06d>[-<hash>]` (sfp.framestore.versions)


def check_source_exists(manifest: str | None, video_root: str) -> None:
    source = manifest or video_root
    if not storage.exists(source):
        raise ConfigError(f"no such dataset {'manifest' if manifest else 'video root'}, nothing overwritten "
                          f"({source})")


def clear_store(uri: str) -> int:
    """Remove the frame-store files at `uri` (a store, or what an interrupted job left); returns how many."""
    removed = 0
    for name in (MANIFEST_FILE, *TABLES):
        target = storage.join_uri(uri, name)
        if storage.exists(target):
            storage.remove(target)
            removed += 1
    shards = storage.join_uri(uri, SHARDS_DIR)
    for target in storage.list_files(shards):
        name = target.rsplit("/", 1)[-1]
        if (name.startswith("part-") or name.startswith(".")) and name.endswith(SHARD_SUFFIXES):
            storage.remove(target)
            removed += 1
    for folder in storage.list_files(storage.join_uri(uri, VERSIONS_DIR)):  # appended versions' manifests, tables
        if VERSION_FOLDER.match(folder.rstrip("/").rsplit("/", 1)[-1]):
            for name in (MANIFEST_FILE, *TABLES):
                target = storage.join_uri(folder, name)
                if storage.exists(target):
                    storage.remove(target)
                    removed += 1
    return removed

"""`_manifest.json`: the commit point and summary of a frame store, and the versions it has had."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from sfp.errors import FrameStoreError
from sfp.framestore.schema import (
    ERRORS_FILE,
    FORMAT_NAME,
    INDEX_FILE,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    SEGMENTS_FILE,
)


def root_tables() -> dict[str, str]:
    """Where version 1 of a store (and every store written before versions) keeps its tables: at the root."""
    return {"index": INDEX_FILE, "errors": ERRORS_FILE, "segments": SEGMENTS_FILE}


@dataclass(frozen=True)
class ShardInfo:
    path: str  # relative to the store root
    rows: int
    bytes: int


@dataclass(frozen=True)
class StoreVersion:
    """One committed version of a store: what it held, and what it added to the one before."""

    version: int  # 1, 2, ...: version 1 is the store as `sfp preprocess` first wrote it, each append adds one
    created_at: str
    clips: int  # the store's totals at this version
    errors: int
    rows: int
    shards: int
    added_rows: int  # rows of the source manifest this version added (all of them for version 1)
    source_sha256: str  # the source manifest it was written from
    folder: str  # where its tables are ("" for version 1: the root) and, once a later version exists, its manifest


@dataclass
class Manifest:
    classes: list[str]
    shards: list[ShardInfo]
    source_rows: int  # rows of the source manifest(s): always clips + errors
    clips: int
    errors: int
    splits: dict[str, int]
    source: dict[str, Any]  # dataset format, manifest URI and its sha256 (of the latest version's manifest)
    decode: dict[str, Any]  # fps, short side, JPEG quality, ...
    code_version: str
    schema_version: int = SCHEMA_VERSION
    format: str = FORMAT_NAME
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    version: int = 1  # the store's version this manifest commits
    versions: list[StoreVersion] = field(default_factory=list)  # every version up to this one, oldest first
    tables: dict[str, str] = field(default_factory=root_tables)  # index, errors, segments: paths from the root

    def to_json(self) -> str:
        data = asdict(self)
        data["counts"] = {"rows": data.pop("source_rows"), "clips": data.pop("clips"), "errors": data.pop("errors")}
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "_manifest.json") -> "Manifest":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise FrameStoreError(f"{where}: not valid JSON ({error})") from None
        if data.get("format") != FORMAT_NAME:
            raise FrameStoreError(f"{where}: not an {FORMAT_NAME} manifest")
        version = data.get("schema_version")
        if version not in READABLE_SCHEMA_VERSIONS:
            readable = ", ".join(str(known) for known in READABLE_SCHEMA_VERSIONS)
            raise FrameStoreError(f"{where}: frame store schema version {version}, this code reads versions {readable}")
        counts = data.pop("counts")
        data["shards"] = [ShardInfo(**shard) for shard in data["shards"]]
        data["versions"] = [StoreVersion(**entry) for entry in data.get("versions", [])]
        manifest = cls(source_rows=counts["rows"], clips=counts["clips"], errors=counts["errors"], **data)
        if not manifest.versions:  # written before stores had versions: it is version 1, as it stands
            manifest.versions = [manifest.version_entry(added_rows=manifest.source_rows)]
        return manifest

    def version_entry(self, added_rows: int, folder: str = "") -> StoreVersion:
        """This manifest's line in the list of versions."""
        return StoreVersion(self.version, self.created_at, self.clips, self.errors, self.source_rows,
                            len(self.shards), added_rows, str(self.source.get("sha256", "")), folder)

    @property
    def total_bytes(self) -> int:
        return sum(shard.bytes for shard in self.shards)

    def summary(self) -> dict[str, Any]:
        """What `sfp framestore inspect` prints."""
        return {
            "format": self.format,
            "schema_version": self.schema_version,
            "version": self.version,
            "versions": [asdict(entry) for entry in self.versions],
            "created_at": self.created_at,
            "clips": self.clips,
            "errors": self.errors,
            "rows": self.source_rows,
            "classes": len(self.classes),
            "class_names": self.classes,
            "splits": self.splits,
            "shards": len(self.shards),
            "bytes": self.total_bytes,
            "source": self.source,
            "decode": self.decode,
            "code_version": self.code_version,
        }

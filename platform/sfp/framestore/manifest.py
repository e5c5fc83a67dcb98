"""`_manifest.json`: the commit point and summary of a frame store."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from sfp.errors import FrameStoreError
from sfp.framestore.schema import FORMAT_NAME, READABLE_SCHEMA_VERSIONS, SCHEMA_VERSION


@dataclass(frozen=True)
class ShardInfo:
    path: str  # relative to the store root
    rows: int
    bytes: int


@dataclass
class Manifest:
    classes: list[str]
    shards: list[ShardInfo]
    source_rows: int  # rows of the source manifest: always clips + errors
    clips: int
    errors: int
    splits: dict[str, int]
    source: dict[str, Any]  # dataset format, manifest URI and its sha256
    decode: dict[str, Any]  # fps, short side, JPEG quality, ...
    code_version: str
    schema_version: int = SCHEMA_VERSION
    format: str = FORMAT_NAME
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

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
            readable = " and ".join(str(known) for known in READABLE_SCHEMA_VERSIONS)
            raise FrameStoreError(f"{where}: frame store schema version {version}, this code reads versions {readable}")
        counts = data.pop("counts")
        data["shards"] = [ShardInfo(**shard) for shard in data["shards"]]
        return cls(source_rows=counts["rows"], clips=counts["clips"], errors=counts["errors"], **data)

    @property
    def total_bytes(self) -> int:
        return sum(shard.bytes for shard in self.shards)

    def summary(self) -> dict[str, Any]:
        """What `sfp framestore inspect` prints."""
        return {
            "format": self.format,
            "schema_version": self.schema_version,
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

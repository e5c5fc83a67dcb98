"""What a shard task returns, and the job's summary: throughput, CPU, bytes, errors by reason, worker memory."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable

from sfp.framestore import ClipRecord, ErrorRecord, Manifest, SegmentRecord, ShardInfo


@dataclass(frozen=True)
class SourceStats:
    """What the probe saw of one source video: the data-quality report's raw material."""

    clip_id: str
    label: str | None
    duration_sec: float | None
    fps: float
    width: int
    height: int
    codec: str


@dataclass
class ShardResult:
    shard: ShardInfo | None
    records: list[ClipRecord]
    errors: list[ErrorRecord]
    segments: list[SegmentRecord] = field(default_factory=list)
    sources: list[SourceStats] = field(default_factory=list)
    bytes_in: int = 0
    cpu_seconds: float = 0.0  # the task's own CPU time and its ffmpeg processes'
    peak_rss_mb: float = 0.0  # the worker process's peak resident memory when the task ended (0: resumed)
    resumed: bool = False
    redone: str = ""  # why a previous run's marker for this shard was not reused ("": there was none)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ShardResult":
        data = json.loads(text)
        return cls(
            shard=ShardInfo(**data["shard"]) if data["shard"] else None,
            records=[ClipRecord(**record) for record in data["records"]],
            errors=[ErrorRecord(**error) for error in data["errors"]],
            segments=[SegmentRecord(**segment) for segment in data.get("segments", [])],
            sources=[SourceStats(**source) for source in data.get("sources", [])],
            bytes_in=data["bytes_in"],
            cpu_seconds=data["cpu_seconds"],
            peak_rss_mb=data.get("peak_rss_mb", 0.0),
            resumed=data["resumed"],
            redone=data.get("redone", ""),
        )


@dataclass(frozen=True)
class Appended:
    """What an append job added to its store (`sfp preprocess --append`)."""

    version: int  # the version it committed (the store's version, unchanged, when it had nothing to add)
    clips: int
    errors: int
    skipped_rows: int  # rows of the manifest that the store held already
    new_classes: int = 0
    bytes_out: int = 0  # of the shards it added

    @property
    def rows(self) -> int:
        return self.clips + self.errors


@dataclass
class PreprocessSummary:
    store_uri: str
    manifest: Manifest
    wall_seconds: float
    cpu_seconds: float
    bytes_in: int
    resumed_shards: int
    errors_by_reason: dict[str, int] = field(default_factory=dict)  # "stage: reason" -> rows, most first
    errors_by_stage: dict[str, int] = field(default_factory=dict)
    peak_worker_rss_mb: float = 0.0
    redone_shards: dict[str, int] = field(default_factory=dict)  # why an earlier marker was not reused -> shards
    sources: list[SourceStats] = field(default_factory=list, repr=False)
    run_id: str | None = None  # the MLflow run, when tracking is on
    appended: Appended | None = None  # an append job: what it added (the manifest counts the whole store)

    @property
    def job_clips(self) -> int:
        """Clips this job's rows became: the store's, or an append's."""
        return self.appended.clips if self.appended else self.manifest.clips

    @property
    def job_rows(self) -> int:
        return self.appended.rows if self.appended else self.manifest.source_rows

    @property
    def bytes_out(self) -> int:
        return self.appended.bytes_out if self.appended else self.manifest.total_bytes

    @property
    def clips_per_second(self) -> float:
        return self.job_clips / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def cpu_seconds_per_clip(self) -> float:
        return self.cpu_seconds / max(self.job_rows, 1)

    def metrics(self) -> dict[str, float]:
        manifest = self.manifest
        metrics = {
            "clips": manifest.clips,
            "errors": manifest.errors,
            "rows": manifest.source_rows,
            "clips_per_sec": self.clips_per_second,
            "cpu_sec_per_clip": self.cpu_seconds_per_clip,
            "wall_sec": self.wall_seconds,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "resumed_shards": self.resumed_shards,
            "peak_worker_rss_mb": self.peak_worker_rss_mb,
            "version": manifest.version,
        }
        if self.appended:
            metrics.update(added_clips=self.appended.clips, added_errors=self.appended.errors,
                           skipped_rows=self.appended.skipped_rows)
        metrics.update({f"errors_{stage}": count for stage, count in self.errors_by_stage.items()})
        return {key: float(value) for key, value in metrics.items()}

    def lines(self) -> list[str]:
        manifest = self.manifest
        lines = [f"frame store: {self.store_uri} (version {manifest.version})"]
        added = self.appended
        if added is None:
            lines.append(f"clips: {manifest.clips} written, {manifest.errors} errors, {manifest.source_rows} rows")
        elif added.rows == 0:
            lines.append(f"appended: nothing, every row of the manifest ({added.skipped_rows}) is in the store already")
        else:
            lines.append(
                f"appended: {added.clips} clips, {added.errors} errors, {added.rows} rows as version {added.version}"
                f" ({added.skipped_rows} rows of the manifest were in the store already, skipped"
                + (f"; {added.new_classes} new classes" if added.new_classes else "") + ")"
            )
            lines.append(f"store: {manifest.clips} clips, {manifest.errors} errors, {manifest.source_rows} rows")
        lines += [
            f"throughput: {self.clips_per_second:.2f} clips/s, {self.cpu_seconds_per_clip:.2f} CPU-s per clip",
            f"bytes: {self.bytes_in / 1e6:.1f} MB in, {self.bytes_out / 1e6:.1f} MB out",
            f"memory: {self.peak_worker_rss_mb:.0f} MB peak per worker",
        ]
        if self.resumed_shards:
            lines.append(f"resumed: {self.resumed_shards} shards were already done")
        if self.redone_shards:
            lines.append(f"redone: {sum(self.redone_shards.values())} shards done before could not be reused:")
            lines.extend(f"  {count:>6}  {reason}" for reason, count in self.redone_shards.items())
        if self.errors_by_reason:
            lines.append(f"errors by reason (every row: sfp framestore errors {self.store_uri}):")
            lines.append(f"  {'count':>6}  {'stage':<7} reason")
            for key, count in self.errors_by_reason.items():
                stage, _, reason = key.partition(": ")
                lines.append(f"  {count:>6}  {stage:<7} {reason}")
        if self.run_id:
            lines.append(f"MLflow run: {self.run_id}")
        return lines


_PATH = re.compile(r"(?:s3://|file:|/)[^\s,;()]+")
_NUMBER = re.compile(r"0x[0-9a-fA-F]+|\d+(?:\.\d+)?")


def count_kinds(texts: Iterable[str]) -> dict[str, int]:
    """How many of each kind of text, most first. Texts that differ only in paths and numbers are one kind, shown
    as its first text with paths left out: "decode: truncated: 137 of 300 frames", "locate: video not found: …"."""
    kinds: dict[str, list] = {}
    for text in texts:
        example = _PATH.sub("…", text)[:110]
        kinds.setdefault(_NUMBER.sub("#", example), [0, example])[0] += 1
    return {example: count for count, example in sorted(kinds.values(), key=lambda kind: (-kind[0], kind[1]))}


def summarize(
    store_uri: str, manifest: Manifest, results: list[ShardResult], wall_seconds: float,
    appended: Appended | None = None,
) -> PreprocessSummary:
    errors = [error for result in results for error in result.errors]
    return PreprocessSummary(
        store_uri=store_uri,
        manifest=manifest,
        wall_seconds=wall_seconds,
        cpu_seconds=sum(result.cpu_seconds for result in results),
        bytes_in=sum(result.bytes_in for result in results),
        resumed_shards=sum(result.resumed for result in results),
        errors_by_reason=count_kinds(f"{error.stage}: {error.reason}" for error in errors),
        errors_by_stage=dict(Counter(error.stage for error in errors)),
        peak_worker_rss_mb=max((result.peak_rss_mb for result in results), default=0.0),
        redone_shards=count_kinds(result.redone for result in results if result.redone),
        sources=[source for result in results for source in result.sources],
        appended=appended,
    )

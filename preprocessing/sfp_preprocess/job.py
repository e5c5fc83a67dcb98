"""The preprocessing job: source clips -> Ray Data tasks (locate, decode, write one shard each) -> frame store.

Shards are planned on the driver from the sorted clip ids, so a shard's name depends only on what it holds.
Each task writes its shard and then a small `.done.json` beside it; a rerun skips shards whose marker exists, so a
crashed job resumes where it stopped and the final store holds every clip exactly once. The manifest is written
last, by the driver, after every shard is done.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Iterator

from tqdm import tqdm

from sfp import storage
from sfp.errors import SfpError
from sfp.framestore import EncodedClip, ErrorRecord, FrameStore, Manifest, ShardInfo, finalize_store, write_shard
from sfp.framestore.records import ClipRecord
from sfp.framestore.schema import MANIFEST_FILE
from sfp.framestore.writer import shard_name_for
from sfp.raycluster import code_version
from sfp_preprocess.config import DecodeConfig, PreprocessConfig
from sfp_preprocess.decode import DecodeError, DecodeParams, decode_clip
from sfp_preprocess.sources import SourceClip, plan_sources


@dataclass
class ShardResult:
    shard: ShardInfo | None
    records: list[ClipRecord]
    errors: list[ErrorRecord]
    bytes_in: int = 0
    cpu_seconds: float = 0.0
    resumed: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ShardResult":
        data = json.loads(text)
        return cls(
            shard=ShardInfo(**data["shard"]) if data["shard"] else None,
            records=[ClipRecord(**record) for record in data["records"]],
            errors=[ErrorRecord(**error) for error in data["errors"]],
            bytes_in=data["bytes_in"],
            cpu_seconds=data["cpu_seconds"],
            resumed=data["resumed"],
        )


@dataclass
class PreprocessSummary:
    store_uri: str
    manifest: Manifest
    wall_seconds: float
    cpu_seconds: float
    bytes_in: int
    resumed_shards: int
    errors_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def clips_per_second(self) -> float:
        return self.manifest.clips / self.wall_seconds if self.wall_seconds else 0.0

    def lines(self) -> list[str]:
        manifest = self.manifest
        lines = [
            f"frame store: {self.store_uri}",
            f"clips: {manifest.clips} written, {manifest.errors} errors, {manifest.source_rows} rows",
            f"throughput: {self.clips_per_second:.2f} clips/s, "
            f"{self.cpu_seconds / max(manifest.source_rows, 1):.2f} CPU-s per clip",
            f"bytes: {self.bytes_in / 1e6:.1f} MB in, {manifest.total_bytes / 1e6:.1f} MB out",
        ]
        if self.resumed_shards:
            lines.append(f"resumed: {self.resumed_shards} shards were already done")
        for reason, count in sorted(self.errors_by_reason.items(), key=lambda item: -item[1]):
            lines.append(f"  error x{count}: {reason}")
        return lines


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + own.ru_utime + own.ru_stime


def _locate(clip: SourceClip, workdir: str) -> tuple[str, str, int]:
    """Find the clip's video; return (source URI, local path to decode, size). S3 videos are downloaded first:
    an mp4 whose index sits at the end cannot be decoded from a stream."""
    for candidate in clip.candidates:
        fs, location = storage.open_location(candidate)
        try:
            if not fs.exists(location.path):
                continue
            size = fs.size(location.path)
        except Exception as error:
            raise DecodeError("locate", f"cannot reach {candidate}: {str(error).splitlines()[0][:200]}") from None
        if size == 0:
            raise DecodeError("locate", f"{candidate} is empty")
        if location.is_local:
            return candidate, location.path, size
        local = os.path.join(workdir, os.path.basename(location.path))
        fs.get_file(location.path, local)
        return candidate, local, size
    tried = clip.candidates[0] if len(clip.candidates) == 1 else f"{clip.candidates[0]} (+{len(clip.candidates) - 1} more)"
    raise DecodeError("locate", f"video not found: {tried}")


def process_shard(
    store_uri: str,
    clips: list[SourceClip],
    class_ids: dict[str, int],
    decode: DecodeConfig,
    clips_per_row_group: int,
) -> ShardResult:
    """Locate, decode and encode a shard's clips, write the shard, then its done marker."""
    shard_path = shard_name_for(clip.clip_id for clip in clips)
    marker_uri = storage.join_uri(store_uri, shard_path.replace(".parquet", ".done.json"))
    if storage.exists(marker_uri):
        result = ShardResult.from_json(storage.read_text(marker_uri))
        result.resumed = True
        return result
    cpu_start = _children_cpu_seconds()
    params = DecodeParams(
        fps=decode.fps,
        short_side=decode.short_side,
        jpeg_qscale=decode.jpeg_qscale,
        timeout_sec=decode.timeout_sec,
        max_memory_mb=decode.max_memory_mb,
    )
    encoded: list[EncodedClip] = []
    errors: list[ErrorRecord] = []
    bytes_in = 0
    workdir = tempfile.mkdtemp(prefix="sfp-decode-")
    try:
        for clip in clips:
            source = clip.candidates[0]
            try:
                source, local_path, size = _locate(clip, workdir)
                bytes_in += size
                decoded = decode_clip(local_path, params, clip.start_sec, clip.end_sec)
            except DecodeError as error:
                errors.append(ErrorRecord(clip.clip_id, source, error.stage, error.reason))
                continue
            finally:
                for name in os.listdir(workdir):
                    os.unlink(os.path.join(workdir, name))
            encoded.append(
                EncodedClip(
                    clip_id=clip.clip_id,
                    label=clip.label,
                    label_id=class_ids.get(clip.label, -1) if clip.label is not None else -1,
                    split=clip.split,
                    source_path=source,
                    start_sec=clip.start_sec,
                    end_sec=clip.end_sec,
                    fps=params.fps,
                    width=decoded.width,
                    height=decoded.height,
                    frames=decoded.frames,
                    timestamps=decoded.timestamps,
                )
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    shard, records = None, []
    if encoded:
        shard, records = write_shard(store_uri, shard_path, encoded, clips_per_row_group=clips_per_row_group)
    result = ShardResult(shard, records, errors, bytes_in, _children_cpu_seconds() - cpu_start)
    storage.write_text(marker_uri, result.to_json())
    return result


def plan_shards(clips: list[SourceClip], clips_per_shard: int) -> list[list[SourceClip]]:
    ordered = sorted(clips, key=lambda clip: clip.clip_id)
    return [ordered[start : start + clips_per_shard] for start in range(0, len(ordered), clips_per_shard)]


def _run_shards(config: PreprocessConfig, shards: list[list[SourceClip]], classes: list[str]) -> Iterator[ShardResult]:
    import ray

    class_ids = {name: index for index, name in enumerate(classes)}
    store_uri, decode, per_group = config.output.uri, config.decode, config.output.clips_per_row_group

    def run(row: dict) -> dict:
        clips = [SourceClip.from_dict(item) for item in json.loads(row["clips"])]
        return {"result": process_shard(store_uri, clips, class_ids, decode, per_group).to_json()}

    items = [{"clips": json.dumps([clip.to_dict() for clip in shard])} for shard in shards]
    dataset = ray.data.from_items(items, override_num_blocks=max(1, len(items))).map(
        run, num_cpus=config.cpus_per_task
    )
    for row in dataset.iter_rows():
        yield ShardResult.from_json(row["result"])


def run_preprocess(config: PreprocessConfig) -> PreprocessSummary:
    """Run the whole job (Ray must be initialised by the caller) and return its summary.

    Raises SfpError after writing the store when the error share exceeds the budget.
    """
    started = time.perf_counter()
    plan = plan_sources(config.dataset, limit=config.limit)
    if not plan.clips:
        raise SfpError(f"{config.dataset.manifest}: no clips to preprocess")
    store_uri = config.output.uri
    if storage.exists(storage.join_uri(store_uri, MANIFEST_FILE)):
        existing = FrameStore.open(store_uri).manifest
        if existing.source.get("sha256") == plan.manifest_sha256 and existing.decode == config.decode.model_dump():
            return PreprocessSummary(store_uri, existing, 0.0, 0.0, 0, len(existing.shards))
        raise SfpError(
            f"{store_uri}: a frame store of another dataset or decode settings is already there; choose another output"
        )
    shards = plan_shards(plan.clips, config.output.clips_per_shard)
    results: list[ShardResult] = []
    with tqdm(total=len(plan.clips), desc="preprocess", unit="clip") as progress:
        for result in _run_shards(config, shards, plan.classes):
            results.append(result)
            progress.update(len(result.records) + len(result.errors))
            progress.set_postfix(errors=sum(len(r.errors) for r in results))
    errors = [error for result in results for error in result.errors]
    manifest = finalize_store(
        store_uri,
        shards=[result.shard for result in results if result.shard is not None],
        records=[record for result in results for record in result.records],
        errors=errors,
        classes=plan.classes,
        source_rows=len(plan.clips),
        source={
            "format": config.dataset.format,
            "manifest": config.dataset.manifest,
            "sha256": plan.manifest_sha256,
            "video_root": config.dataset.video_root,
        },
        decode=config.decode.model_dump(),
        code_version=code_version(),
    )
    errors_by_reason: dict[str, int] = {}
    for error in errors:
        key = f"{error.stage}: {error.reason[:80]}"
        errors_by_reason[key] = errors_by_reason.get(key, 0) + 1
    summary = PreprocessSummary(
        store_uri=store_uri,
        manifest=manifest,
        wall_seconds=time.perf_counter() - started,
        cpu_seconds=sum(result.cpu_seconds for result in results),
        bytes_in=sum(result.bytes_in for result in results),
        resumed_shards=sum(result.resumed for result in results),
        errors_by_reason=errors_by_reason,
    )
    share = manifest.errors / manifest.source_rows
    if share > config.error_budget:
        raise SfpError(
            f"{manifest.errors} of {manifest.source_rows} clips failed ({share:.1%} > budget "
            f"{config.error_budget:.1%}); see {storage.join_uri(store_uri, '_errors.parquet')}"
        )
    return summary

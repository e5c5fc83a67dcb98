"""The preprocessing job: source clips -> Ray Data tasks (one shard each, `shard.process_shard`) -> frame store.

Shards are planned on the driver from the sorted clip ids, so a shard's name depends only on what it holds.
Each task writes its shard and then a small `.done.json` beside it; a rerun skips shards whose marker verifies
(same decode settings and plan, the shard file as it was written: `markers`) and redoes the others, so a crashed
job resumes where it stopped and the final store holds every clip exactly once, decoded one way. The manifest is
written last, by the driver, after every shard is done. The job is one MLflow run (the same one again when resumed).
With `output.append` the job adds the clips a store does not hold as its next version (`append`).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Iterator

from tqdm import tqdm

from sfp import storage
from sfp.errors import SfpError
from sfp.framestore import FrameStore, Manifest, commit_version, finalize_store
from sfp.framestore.schema import MANIFEST_FILE, SHARDS_DIR
from sfp.raycluster import code_version
from sfp_preprocess.append import AppendPlan, plan_append
from sfp_preprocess.clips import SourceClip, SourcePlan
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.locate import SourceUnavailable
from sfp_preprocess.shard import ShardContext, process_shard
from sfp_preprocess.sources import plan_sources
from sfp_preprocess.summary import Appended, PreprocessSummary, ShardResult, summarize


def plan_shards(clips: list[SourceClip], rows_per_shard: int, fps: float,
                segments_per_task: int | None = None) -> list[list[SourceClip]]:
    """Consecutive clips (by id) of at most `rows_per_shard` rows, as even as that allows (96 one-row clips at 64
    are two shards of 48, not 64 and 32: the last shard does not finish alone); a long video's segments stay in one
    shard, or with `segments_per_task` its parts of at most that many segments (`SourceClip.parts`), each in a shard
    of its own. The plan depends only on the clips and these settings, never on the cluster: a rerun finds it again."""
    if segments_per_task is not None:
        clips = [part for clip in clips for part in clip.parts(segments_per_task, fps)]
    pooled = sum(len(clip.row_ids(fps)) for clip in clips if clip.segment_range is None)
    if pooled:
        rows_per_shard = math.ceil(pooled / math.ceil(pooled / rows_per_shard))
    shards: list[list[SourceClip]] = []
    current: list[SourceClip] = []
    rows = 0
    for clip in sorted(clips, key=lambda clip: (clip.clip_id, clip.segment_range or (0, 0))):
        count, alone = len(clip.row_ids(fps)), clip.segment_range is not None
        if current and (rows + count > rows_per_shard or alone):
            shards.append(current)
            current, rows = [], 0
        current.append(clip)
        rows += count
        if alone:
            shards.append(current)
            current, rows = [], 0
    if current:
        shards.append(current)
    return shards


def source_description(config: PreprocessConfig, plan: SourcePlan) -> dict[str, Any]:
    """What the manifest records about the source (and what a rerun must match to reuse a finished store)."""
    dataset = config.dataset
    source: dict[str, Any] = {
        "format": dataset.format,
        "manifest": dataset.manifest,
        "sha256": plan.manifest_sha256,
        "video_root": dataset.root,
    }
    if dataset.format == "kinetics":
        source["trimmed"] = dataset.trimmed
    if dataset.format == "ava":
        source["segments"] = {
            "keyframe_range": list(dataset.ava.keyframe_range),
            "span_sec": list(dataset.ava.span),
            "segment_sec": dataset.ava.segment_sec,
        }
    return source


def run_shard_task(context: ShardContext, clips_json: str) -> dict[str, str]:
    """One Ray Data row: a shard's `ShardResult` as JSON, or, when a source stayed unreadable for the storage's
    reasons, why (the shard has no marker then: a rerun does it again)."""
    clips = [SourceClip.from_dict(item) for item in json.loads(clips_json)]
    try:
        return {"result": process_shard(context, clips).to_json(), "unavailable": ""}
    except SourceUnavailable as error:
        return {"result": "", "unavailable": str(error)}


def _run_shards(context: ShardContext, shards: list[list[SourceClip]], cpus_per_task: float) -> Iterator[dict]:
    import ray

    items = [{"clips": json.dumps([clip.to_dict() for clip in shard])} for shard in shards]
    dataset = ray.data.from_items(items, override_num_blocks=max(1, len(items))).map(
        lambda row: run_shard_task(context, row["clips"]), num_cpus=cpus_per_task
    )
    yield from dataset.iter_rows()


class ErrorBudgetExceeded(SfpError):
    """More clips failed than `error_budget` allows; the store is written all the same, `summary` describes it."""

    def __init__(self, message: str, summary: PreprocessSummary) -> None:
        super().__init__(message)
        self.summary = summary


def _existing_store(config: PreprocessConfig, source: dict[str, Any]) -> PreprocessSummary | None:
    store_uri = config.output.uri
    if not storage.exists(storage.join_uri(store_uri, MANIFEST_FILE)):
        return None
    existing = FrameStore.open(store_uri).manifest
    if existing.source.get("sha256") == source["sha256"] and existing.decode == config.decode.model_dump():
        return PreprocessSummary(store_uri, existing, 0.0, 0.0, 0, len(existing.shards))
    raise SfpError(
        f"{store_uri}: a frame store of another dataset or decode settings is already there; choose another output "
        "(or add this manifest's new clips to it with --append)"
    )


def remove_interrupted_writes(store_uri: str) -> int:
    """Delete the temporary files of shard writes that a crash interrupted (local stores only: on S3 a shard is
    written locally and uploaded in one PUT). Called once every task of the job has finished."""
    location = storage.parse_uri(store_uri)
    if not location.is_local:
        return 0
    stale = list(Path(location.path, SHARDS_DIR).glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def _nothing_to_add(config: PreprocessConfig, append: AppendPlan, started: float) -> PreprocessSummary:
    appended = Appended(append.base.version, 0, 0, append.skipped_rows)
    return PreprocessSummary(config.output.uri, append.base, time.perf_counter() - started, 0.0, 0, 0,
                             appended=appended)


def _commit(config: PreprocessConfig, append: AppendPlan | None, results: list[ShardResult], *, classes: list[str],
            rows: int, source: dict[str, Any]) -> tuple[Manifest, Appended | None]:
    """Commit the store (version 1), or the append's new version; returns its manifest and what an append added."""
    shards = [result.shard for result in results if result.shard is not None]
    records = [record for result in results for record in result.records]
    errors = [error for result in results for error in result.errors]
    segments = [segment for result in results for segment in result.segments]
    if append is None:
        manifest = finalize_store(
            config.output.uri, shards=shards, records=records, errors=errors, classes=classes, source_rows=rows,
            source=source, decode=config.decode.model_dump(), code_version=code_version(), segments=segments,
        )
        return manifest, None
    manifest = commit_version(
        config.output.uri, append.base, base_text=append.base_text, base_records=append.base_records,
        base_errors=append.base_errors, base_segments=append.base_segments, shards=shards, records=records,
        errors=errors, segments=segments, classes=classes, source=source, code_version=code_version(),
    )
    added = Appended(manifest.version, len(records), len(errors), append.skipped_rows, append.new_classes,
                     sum(shard.bytes for shard in shards))
    return manifest, added


def run_preprocess(config: PreprocessConfig) -> PreprocessSummary:
    """Run the whole job (Ray must be initialised by the caller) and return its summary.

    With `output.append`, only the clips the store does not hold are decoded and committed as its next version.
    Raises ErrorBudgetExceeded after writing the store when the error share of the job's rows exceeds the budget,
    and SourceUnavailable before writing the manifest when a shard could not read a source (every other shard is
    done).
    """
    started = time.perf_counter()
    plan = plan_sources(config.dataset, limit=config.limit)
    if not plan.clips:
        raise SfpError(f"{config.dataset.manifest or config.dataset.root}: no clips to preprocess")
    source = source_description(config, plan)
    append: AppendPlan | None = None
    clips, classes = plan.clips, plan.classes
    if config.output.append:
        append = plan_append(config, plan, source)
        if not append.clips:
            return _nothing_to_add(config, append, started)
        clips, classes = append.clips, append.classes
    else:
        done = _existing_store(config, source)
        if done is not None:
            return done
    fps, store_uri = config.decode.fps, config.output.uri
    shards = plan_shards(clips, config.output.clips_per_shard, fps, config.output.segments_per_task)
    rows = sum(len(clip.row_ids(fps)) for clip in clips)
    context = ShardContext(
        store_uri=store_uri,
        video_root=config.dataset.root,
        video_extensions=list(config.dataset.video_extensions),
        class_ids={name: index for index, name in enumerate(classes)},
        decode=config.decode,
        clips_per_row_group=config.output.clips_per_row_group,
    )
    job_run = None
    if config.tracking.enabled:
        from sfp_preprocess.run_log import JobRun

        version = append.base.version + 1 if append else 1
        job_run = JobRun.start(config, source, rows=rows, shards=len(shards), version=version)
    try:
        results: list[ShardResult] = []
        unavailable: list[str] = []
        failed = 0
        with tqdm(total=rows, desc="preprocess", unit="clip") as progress:
            for row in _run_shards(context, shards, config.cpus_per_task):
                if row["unavailable"]:
                    unavailable.append(row["unavailable"])
                    continue
                result = ShardResult.from_json(row["result"])
                results.append(result)
                failed += len(result.errors)
                progress.update(len(result.records) + len(result.errors))
                progress.set_postfix(errors=failed)
        if unavailable:
            raise SourceUnavailable(
                f"{len(unavailable)} of {len(shards)} shards are not done: the storage did not deliver a source "
                f"(not recorded as a clip error; rerun to retry, done shards are reused). First: {unavailable[0]}"
            )
        manifest, appended = _commit(config, append, results, classes=classes, rows=rows, source=source)
        remove_interrupted_writes(store_uri)
        summary = summarize(store_uri, manifest, results, time.perf_counter() - started, appended)
    except BaseException:
        if job_run is not None:
            job_run.fail()
        raise
    share = failed / rows
    over_budget = share > config.error_budget
    if job_run is not None:
        summary.run_id = job_run.run_id
        job_run.finish(config, summary, [record for result in results for record in result.records], over_budget)
    if over_budget:
        raise ErrorBudgetExceeded(
            f"{failed} of {rows} clips failed ({share:.1%} > budget {config.error_budget:.1%}); see "
            f"{storage.join_uri(store_uri, manifest.tables['errors'])}",
            summary,
        )
    return summary

"""`sfp preprocess --append` (`output.append: true`): add a manifest's new clips to an existing frame store as its
next version.

The manifest may be the grown dataset or only its new rows: a row whose clip is already in the store (stored, or
an error row) is skipped and counted, so rerunning an append that committed adds nothing. A skipped row must
describe its clip as the store does (label, split, window): an append adds clips, it never changes stored ones.
The store must be of the same kind of dataset (format; AVA's keyframe range, span and segment length; Kinetics'
`trimmed`) and the same decode settings. New classes go at the end of the class list, so stored label ids stay.
Only the new clips are decoded, into new shards (named by their clip ids, so an interrupted append resumes from its
done markers like any job); `sfp.framestore.commit_version` then commits a version listing every shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sfp import storage
from sfp.errors import SfpError
from sfp.framestore import ClipRecord, ErrorRecord, FrameStore, Manifest, SegmentRecord
from sfp.framestore.schema import MANIFEST_FILE
from sfp_preprocess.clips import SourceClip, SourcePlan
from sfp_preprocess.config import PreprocessConfig

KIND_FIELDS = ("format", "trimmed", "segments")  # what makes two manifests rows of one dataset


@dataclass
class AppendPlan:
    """What an append adds to which version of a store."""

    base: Manifest  # the version it appends to
    base_text: str  # that version's `_manifest.json` as read: the commit checks nobody committed since
    base_records: list[ClipRecord]
    base_errors: list[ErrorRecord]
    base_segments: list[SegmentRecord]
    clips: list[SourceClip]  # the manifest's clips that the store does not hold
    classes: list[str]  # the base's classes, then the new ones (sorted)
    skipped_rows: int  # rows of the manifest already in the store

    @property
    def new_classes(self) -> int:
        return len(self.classes) - len(self.base.classes)


def _settings_change(written: dict[str, Any], now: dict[str, Any]) -> str:
    changed = sorted(name for name in set(written) | set(now) if written.get(name) != now.get(name))
    return ", ".join(f"{name} {written.get(name)} here {now.get(name)}" for name in changed)


def check_same_dataset(uri: str, base: Manifest, source: dict[str, Any], decode: dict[str, Any]) -> None:
    """Refuse, in one line, an append of another kind of dataset or with other decode settings."""
    stored = {name: base.source.get(name) for name in KIND_FIELDS}
    given = {name: source.get(name) for name in KIND_FIELDS}
    if stored != given:
        raise SfpError(f"the store holds another kind of dataset: {_settings_change(stored, given)} ({uri})")
    if base.decode != decode:
        raise SfpError(
            f"the store was decoded with other settings: {_settings_change(base.decode, decode)}; an append "
            f"decodes as the store did ({uri})"
        )


def _difference(clip: SourceClip, record: ClipRecord) -> str:
    """How the manifest's `clip` differs from its stored row ("" when it does not)."""
    for name, stored, given in (("label", record.label, clip.label), ("split", record.split, clip.split)):
        if stored != given:
            return f"{name} {stored!r} in the store, {given!r} here"
    if not clip.segmented and (record.start_sec, record.end_sec) != (clip.start_sec, clip.end_sec):
        return f"window {record.start_sec}..{record.end_sec} in the store, {clip.start_sec}..{clip.end_sec} here"
    return ""


def plan_append(config: PreprocessConfig, plan: SourcePlan, source: dict[str, Any]) -> AppendPlan:
    """Open the store at `output.uri` and keep the clips of `plan` it does not hold; refuse what cannot be
    appended, in one line."""
    uri, fps = config.output.uri, config.decode.fps
    manifest_uri = storage.join_uri(uri, MANIFEST_FILE)
    if not storage.exists(manifest_uri):
        raise SfpError(
            f"no frame store to append to ({MANIFEST_FILE} missing); run without --append to create it, or to "
            f"finish an interrupted first run ({uri})"
        )
    text = storage.read_text(manifest_uri)
    base = Manifest.from_json(text, where=manifest_uri)
    check_same_dataset(uri, base, source, config.decode.model_dump())
    store = FrameStore(uri, base)
    records, errors = store.records, store.errors()
    segments = [segment for video in store.videos() for segment in store.segments(video)]
    by_id = {record.clip_id: record for record in records}
    errored = {error.clip_id for error in errors}
    new: list[SourceClip] = []
    skipped = 0
    for clip in plan.clips:
        rows = clip.row_ids(fps)
        present = [row for row in rows if row in by_id or row in errored]
        if not present:
            new.append(clip)
            continue
        if len(present) != len(rows):
            raise SfpError(
                f"{clip.clip_id}: {len(present)} of its {len(rows)} segments are in the store; an append adds "
                f"whole videos ({uri})"
            )
        stored = next((by_id[row] for row in rows if row in by_id), None)
        difference = _difference(clip, stored) if stored is not None else ""
        if difference:
            raise SfpError(
                f"clip {clip.clip_id} is already in the store with another description ({difference}); an append "
                f"adds clips, it does not change stored ones ({config.dataset.manifest or config.dataset.root})"
            )
        skipped += len(rows)
    added = sorted({clip.label for clip in new if clip.label is not None} - set(base.classes))
    return AppendPlan(base, text, records, errors, segments, new, [*base.classes, *added], skipped)

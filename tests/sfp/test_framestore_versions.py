"""Versions of a frame store: committing an appended version is one write of `_manifest.json`; until then, and for
readers that opened the store before, the previous version is what is read, locally and on a real S3 server."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from sfp import storage
from sfp.errors import FrameStoreError
from sfp.framestore import (
    EncodedClip,
    ErrorRecord,
    FrameStore,
    Manifest,
    SegmentRecord,
    commit_version,
    finalize_store,
    shard_name_for,
    write_shard,
)
from sfp.framestore.schema import MANIFEST_FILE


def jpeg(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 24, 3), value, dtype=np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def clip(clip_id: str, label: str, label_id: int, level: int) -> EncodedClip:
    return EncodedClip(clip_id=clip_id, label=label, label_id=label_id, split="train", source_path=f"{clip_id}.mp4",
                       start_sec=None, end_sec=None, fps=30.0, width=24, height=16,
                       frames=[jpeg(level + 20 * i) for i in range(3)], timestamps=[i / 30 for i in range(3)])


def first_version(uri: str) -> None:
    """Version 1: clips a, b (cat, dog) and the error row d."""
    clips = [clip("a", "cat", 0, 10), clip("b", "dog", 1, 30)]
    shard, records = write_shard(uri, shard_name_for(["a", "b", "d"]), clips)
    error = ErrorRecord("d", "d.mp4", "decode", "moov atom not found")
    finalize_store(uri, shards=[shard], records=records, errors=[error],
                   classes=["cat", "dog"], source_rows=3, source={"format": "csv", "sha256": "one"},
                   decode={"fps": 30}, code_version="test")


def append_version(uri: str, base_store: FrameStore) -> Manifest:
    """Clips c (cat) and e (a new class, bird) and the error row f onto `base_store`'s version."""
    base = base_store.manifest
    clips = [clip("c", "cat", 0, 50), clip("e", "bird", 2, 70)]
    shard, records = write_shard(uri, shard_name_for(["c", "e", "f"]), clips)
    return commit_version(
        uri, base, base_text=storage.read_text(storage.join_uri(uri, MANIFEST_FILE)), base_records=base_store.records,
        base_errors=base_store.errors(), base_segments=[], shards=[shard], records=records,
        errors=[ErrorRecord("f", "f.mp4", "probe", "no video stream")], classes=["cat", "dog", "bird"],
        source={"format": "csv", "sha256": "two"}, code_version="test",
    )


def check_append(uri: str) -> None:
    first_version(uri)
    before = FrameStore.open(uri)  # opened before the append: only the manifest is read so far
    manifest = append_version(uri, FrameStore.open(uri))
    folder = manifest.versions[-1].folder
    assert manifest.version == 2 and folder.startswith("_versions/000002-")
    assert manifest.tables == {name: f"{folder}/_{name}.parquet" for name in ("index", "errors", "segments")}

    # the reader that opened version 1 reads version 1 (its index is read only now, after the commit)
    assert before.manifest.version == 1
    assert [record.clip_id for record in before.records] == ["a", "b"]
    assert [error.clip_id for error in before.errors()] == ["d"]

    store = FrameStore.open(uri)
    assert store.manifest.version == 2 and store.manifest.source["sha256"] == "two"
    assert [record.clip_id for record in store.records] == ["a", "b", "c", "e"]
    assert [error.clip_id for error in store.errors()] == ["d", "f"]
    assert (store.manifest.clips, store.manifest.errors, store.manifest.source_rows) == (4, 2, 6)
    assert store.manifest.classes == ["cat", "dog", "bird"] and store.record("e").label_id == 2
    assert len(store.manifest.shards) == 2
    assert [(v.version, v.clips, v.errors, v.rows, v.shards, v.added_rows, v.source_sha256)
            for v in store.manifest.versions] == [(1, 2, 1, 3, 1, 3, "one"), (2, 4, 2, 6, 2, 3, "two")]
    assert store.manifest.versions[0].folder == ""  # version 1's tables are at the root
    for clip_id, level in (("a", 10), ("c", 50), ("e", 70)):  # frames of both versions' shards
        assert int(round(store.read_frames(clip_id, [1])[0].mean())) == level + 20

    old = FrameStore.open(uri, version=1)  # an earlier version, by number
    assert old.manifest.version == 1 and [record.clip_id for record in old.records] == ["a", "b"]
    assert FrameStore.open(uri, version=2).manifest.to_json() == store.manifest.to_json()
    with pytest.raises(FrameStoreError, match=r"no version 3 \(versions: 1, 2\)"):
        FrameStore.open(uri, version=3)


def test_append_commits_a_version_and_the_previous_one_stays_readable(tmp_path):
    uri = str(tmp_path / "store")
    check_append(uri)
    root = tmp_path / "store"
    assert json.loads((root / "_versions" / "000001" / MANIFEST_FILE).read_text())["version"] == 1
    (folder,) = root.glob("_versions/000002-*")
    assert {path.name for path in folder.iterdir()} == {
        "_index.parquet", "_errors.parquet", MANIFEST_FILE}  # no segments in a store of clips
    assert not list(root.rglob(".*.tmp"))


def test_append_on_s3(s3_env):
    check_append("s3://sfp-test/framestores/versions")


def test_a_commit_interrupted_before_the_manifest_leaves_the_previous_version(tmp_path, monkeypatch):
    uri = str(tmp_path / "store")
    first_version(uri)
    manifest_before = (tmp_path / "store" / MANIFEST_FILE).read_bytes()
    index_before = (tmp_path / "store" / "_index.parquet").read_bytes()
    write_text = storage.write_text

    def crash_at_the_commit(target: str, text: str) -> None:
        if target == storage.join_uri(uri, MANIFEST_FILE):
            raise OSError("killed")
        write_text(target, text)

    monkeypatch.setattr(storage, "write_text", crash_at_the_commit)
    with pytest.raises(OSError, match="killed"):
        append_version(uri, FrameStore.open(uri))
    monkeypatch.setattr(storage, "write_text", write_text)
    # the new version's tables are written, but nothing names them: the store is version 1, byte for byte
    assert len(list((tmp_path / "store").glob("_versions/000002-*/_index.parquet"))) == 1
    assert (tmp_path / "store" / MANIFEST_FILE).read_bytes() == manifest_before
    assert (tmp_path / "store" / "_index.parquet").read_bytes() == index_before
    store = FrameStore.open(uri)
    assert store.manifest.version == 1 and [record.clip_id for record in store.records] == ["a", "b"]
    # doing it again commits version 2
    assert append_version(uri, store).version == 2
    assert [record.clip_id for record in FrameStore.open(uri).records] == ["a", "b", "c", "e"]


def test_a_version_committed_meanwhile_is_not_overwritten(tmp_path):
    uri = str(tmp_path / "store")
    first_version(uri)
    base = FrameStore.open(uri)
    base_text = (tmp_path / "store" / MANIFEST_FILE).read_text()
    append_version(uri, FrameStore.open(uri))  # another job commits version 2
    committed = {path: path.read_bytes() for path in (tmp_path / "store").rglob("*") if path.is_file()}
    shard, records = write_shard(uri, shard_name_for(["g"]), [clip("g", "cat", 0, 90)])
    with pytest.raises(FrameStoreError, match="another job committed a version of this store"):
        commit_version(uri, base.manifest, base_text=base_text, base_records=base.records, base_errors=base.errors(),
                       base_segments=[], shards=[shard], records=records, errors=[], classes=["cat", "dog"],
                       source={"format": "csv", "sha256": "three"}, code_version="test")
    assert [record.clip_id for record in FrameStore.open(uri).records] == ["a", "b", "c", "e"]
    assert all(path.read_bytes() == data for path, data in committed.items())  # nothing of version 2 rewritten


def test_a_store_written_before_versions_is_version_1_and_takes_appends(tmp_path):
    uri = str(tmp_path / "store")
    first_version(uri)
    path = tmp_path / "store" / MANIFEST_FILE
    data = json.loads(path.read_text())
    for key in ("version", "versions", "tables"):
        del data[key]
    data["schema_version"] = 2
    path.write_text(json.dumps(data))
    store = FrameStore.open(uri)
    assert store.manifest.version == 1 and [v.added_rows for v in store.manifest.versions] == [3]
    assert [record.clip_id for record in store.records] == ["a", "b"]
    stale = tmp_path / "store" / "_versions" / "000001" / MANIFEST_FILE  # left by a store this one replaced
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    assert append_version(uri, store).version == 2
    assert stale.read_text() == json.dumps(data)
    assert FrameStore.open(uri, version=1).manifest.schema_version == 2


def test_an_append_keeps_label_ids_and_stored_shards(tmp_path):
    uri = str(tmp_path / "store")
    first_version(uri)
    store = FrameStore.open(uri)
    text = storage.read_text(storage.join_uri(uri, MANIFEST_FILE))
    shard, records = write_shard(uri, shard_name_for(["g"]), [clip("g", "ant", 0, 90)])
    common = dict(base_text=text, base_records=store.records, base_errors=store.errors(), base_segments=[],
                  errors=[], source={"format": "csv", "sha256": "x"}, code_version="test")
    with pytest.raises(ValueError, match="keeps the class list"):
        commit_version(uri, store.manifest, shards=[shard], records=records, classes=["ant", "cat", "dog"], **common)
    with pytest.raises(ValueError, match="shards already in version 1"):
        commit_version(uri, store.manifest, shards=store.manifest.shards, records=records,
                       classes=["cat", "dog", "ant"], **common)
    with pytest.raises(ValueError, match="clips stored twice"):
        commit_version(uri, store.manifest, shards=[shard], records=store.records[:1], classes=["cat", "dog"],
                       **common)
    assert FrameStore.open(uri).manifest.version == 1


def test_an_appended_movie_joins_the_segment_index(tmp_path):
    uri = str(tmp_path / "store")
    movie = [clip("m1_seg0000", None, -1, 10), clip("m1_seg0001", None, -1, 30)]
    shard, records = write_shard(uri, shard_name_for(["m1"]), movie)
    segments = [SegmentRecord("m1", k, f"m1_seg000{k}", 900.0 + 0.1 * k, 30.0, 3 * k, 3) for k in range(2)]
    finalize_store(uri, shards=[shard], records=records, errors=[], classes=[], source_rows=2,
                   source={"format": "ava", "sha256": "one"}, decode={"fps": 30}, code_version="test",
                   segments=segments)
    base = FrameStore.open(uri)
    shard, records = write_shard(uri, shard_name_for(["m2"]), [clip("m2_seg0000", None, -1, 70)])
    commit_version(uri, base.manifest, base_text=storage.read_text(storage.join_uri(uri, MANIFEST_FILE)),
                   base_records=base.records, base_errors=[], base_segments=base.segments("m1"), shards=[shard],
                   records=records, errors=[], segments=[SegmentRecord("m2", 0, "m2_seg0000", 900.0, 30.0, 0, 3)],
                   classes=[], source={"format": "ava", "sha256": "two"}, code_version="test")
    store = FrameStore.open(uri)
    assert store.videos() == ["m1", "m2"] and [s.clip_id for s in store.segments("m1")] == ["m1_seg0000", "m1_seg0001"]
    window = store.read_span("m1", [900.0, 900.0 + 4 / 30])  # frame 0, and frame 4 (the second segment's second)
    assert [int(round(frame.mean())) for frame in window] == [10, 50]
    assert [int(round(frame.mean())) for frame in store.read_span("m2", [900.0])] == [70]
    assert FrameStore.open(uri, version=1).videos() == ["m1"]

"""The frame-store contract: write -> read the same frames, locally and on a real S3 server."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from sfp import storage
from sfp.errors import FrameStoreError
from sfp.framestore import EncodedClip, ErrorRecord, FrameStore, finalize_store, shard_name_for, write_shard


def jpeg(value: int, size=(48, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def make_clip(clip_id: str, label: str, label_id: int, frames: int) -> EncodedClip:
    return EncodedClip(
        clip_id=clip_id, label=label, label_id=label_id, split="train", source_path=f"videos/{clip_id}.mp4",
        start_sec=None, end_sec=None, fps=30.0, width=48, height=32,
        frames=[jpeg(10 * i + label_id) for i in range(frames)], timestamps=[i / 30 for i in range(frames)],
    )


def build_store(uri: str) -> list[EncodedClip]:
    clips = [make_clip("a", "cat", 0, 5), make_clip("b", "dog", 1, 7), make_clip("c", "cat", 0, 3)]
    shard_a, records_a = write_shard(uri, shard_name_for(["a", "b"]), clips[:2], clips_per_row_group=1)
    shard_b, records_b = write_shard(uri, shard_name_for(["c", "d"]), clips[2:], clips_per_row_group=1)
    finalize_store(
        uri, shards=[shard_a, shard_b], records=records_a + records_b,
        errors=[ErrorRecord("d", "videos/d.mp4", "decode", "moov atom not found")],
        classes=["cat", "dog"], source_rows=4, source={"format": "csv", "sha256": "x"},
        decode={"fps": 30}, code_version="test",
    )
    return clips


def check_round_trip(uri: str) -> None:
    clips = build_store(uri)
    store = FrameStore.open(uri)
    manifest = store.manifest
    assert (manifest.clips, manifest.errors, manifest.source_rows) == (3, 1, 4)
    assert manifest.classes == ["cat", "dog"] and manifest.splits == {"train": 3}
    assert sum(shard.rows for shard in manifest.shards) == 3
    for clip in clips:
        record = store.record(clip.clip_id)
        assert (record.num_frames, record.label, record.label_id) == (clip.num_frames, clip.label, clip.label_id)
        assert store.read_jpegs(record) == clip.frames  # bytes identical
        frames = store.read_frames(record, [0, clip.num_frames - 1])
        assert frames.shape == (2, 32, 48, 3)
        expected_first = np.asarray(Image.open(io.BytesIO(clip.frames[0])).convert("RGB"))
        np.testing.assert_array_equal(frames[0], expected_first)
        assert store.read_timestamps(record) == pytest.approx(clip.timestamps)
    assert [error.clip_id for error in store.errors()] == ["d"]


def test_round_trip_local(tmp_path):
    check_round_trip(str(tmp_path / "store"))


def test_round_trip_on_s3(s3_env):
    check_round_trip("s3://sfp-test/framestores/roundtrip")


def test_store_without_manifest_is_not_readable(tmp_path):
    uri = str(tmp_path / "half")
    write_shard(uri, shard_name_for(["a"]), [make_clip("a", "cat", 0, 2)])
    with pytest.raises(FrameStoreError, match="_manifest.json missing"):
        FrameStore.open(uri)


def test_other_schema_version_is_refused(tmp_path):
    uri = str(tmp_path / "store")
    build_store(uri)
    manifest_path = tmp_path / "store" / "_manifest.json"
    data = json.loads(manifest_path.read_text())
    data["schema_version"] = 99
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(FrameStoreError, match="schema version 99"):
        FrameStore.open(uri)


def test_accounting_must_add_up(tmp_path):
    uri = str(tmp_path / "store")
    shard, records = write_shard(uri, shard_name_for(["a"]), [make_clip("a", "cat", 0, 2)])
    with pytest.raises(ValueError, match="accounting"):
        finalize_store(uri, shards=[shard], records=records, errors=[], classes=["cat"], source_rows=2,
                       source={}, decode={}, code_version="t")
    assert not storage.exists(storage.join_uri(uri, "_manifest.json"))


def test_decode_jpeg_with_draft_keeps_short_side_at_least_requested():
    from sfp.framestore import decode_jpeg

    data = jpeg(100, size=(400, 300))
    assert decode_jpeg(data).shape == (300, 400, 3)
    reduced = decode_jpeg(data, max_short_side=64)
    assert min(reduced.shape[:2]) >= 64 and reduced.shape[0] < 300

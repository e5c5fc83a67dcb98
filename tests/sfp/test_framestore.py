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


def test_shard_writer_streams_row_groups_and_abort_leaves_nothing(tmp_path):
    """Version-1 layout (one row per clip, `clips_per_row_group` clips per row group); version 2 is tested in
    test_framestore_v2.py."""
    from sfp.framestore import ShardWriter

    uri = str(tmp_path / "store")
    path = shard_name_for(["a", "b", "c"])
    with ShardWriter(uri, path, clips_per_row_group=2, schema_version=1) as writer:
        for clip_id, frames in (("a", 2), ("b", 3), ("c", 4)):
            writer.add(make_clip(clip_id, "cat", 0, frames))
        assert not (tmp_path / "store" / path).exists()  # only a temporary file until close
        info, records = writer.close()
    assert (info.rows, [r.row_group for r in records], [r.row_in_group for r in records]) == (3, [0, 0, 1], [0, 1, 0])
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "store" / path).num_row_groups == 2
    aborted = shard_name_for(["d"])
    with pytest.raises(RuntimeError):
        with ShardWriter(uri, aborted) as writer:
            writer.add(make_clip("d", "cat", 0, 2))
            writer.add(make_clip("e", "cat", 0, 2))
            raise RuntimeError("decode failed")
    assert sorted(p.name for p in (tmp_path / "store" / "shards").iterdir()) == [path.split("/")[1]]


def segment_clip(video: str, segment: int, first: int, count: int, fps: float = 10.0) -> EncodedClip:
    """Frame n of the video is a grey JPEG of value 2n, so a read tells which frame it got."""
    start = 100.0 + first / fps
    return EncodedClip(
        clip_id=f"{video}_seg{segment:04d}", label=None, label_id=-1, split="train", source_path=f"{video}.mkv",
        start_sec=start, end_sec=start + count / fps, fps=fps, width=48, height=32,
        frames=[jpeg(2 * (first + i)) for i in range(count)], timestamps=[i / fps for i in range(count)],
    )


def build_segmented_store(uri: str) -> None:
    """Video `m` from 100 s at 10 fps: segments of 20 frames (2 s), the last one 7 frames; 67 frames in all."""
    from sfp.framestore import SegmentRecord

    clips = [segment_clip("m", 0, 0, 20), segment_clip("m", 1, 20, 20), segment_clip("m", 2, 40, 20),
             segment_clip("m", 3, 60, 7)]
    segments = [SegmentRecord("m", k, clip.clip_id, clip.start_sec, 10.0, 20 * k, clip.num_frames)
                for k, clip in enumerate(clips)]
    shard, records = write_shard(uri, shard_name_for(["m"]), clips)
    finalize_store(uri, shards=[shard], records=records, errors=[], classes=[], source_rows=4,
                   source={"format": "ava"}, decode={"fps": 10}, code_version="t", segments=segments)


def grey_levels(frames: np.ndarray) -> list[int]:
    return [int(round(frame.mean() / 2)) for frame in frames]


def test_read_span_reads_windows_across_segments_without_duplicates(tmp_path):
    from sfp.framestore import window_times

    uri = str(tmp_path / "store")
    build_segmented_store(uri)
    store = FrameStore.open(uri)
    assert store.videos() == ["m"] and [s.num_frames for s in store.segments("m")] == [20, 20, 20, 7]
    stored = [frame for record in store.clips() for frame in store.read_jpegs(record)]
    assert len(stored) == 67 == len(set(stored))  # every frame once
    # 8 frames at stride 2 centred on 104.0 s (frame 40): frames 32..46, straddling segments 1 and 2
    times = window_times(104.0, num_frames=8, stride=2, fps=10.0)
    assert times == pytest.approx([103.2, 103.4, 103.6, 103.8, 104.0, 104.2, 104.4, 104.6])
    assert grey_levels(store.read_span("m", times)) == [32, 34, 36, 38, 40, 42, 44, 46]
    # at the edges the window is clamped to the first and last stored frames
    assert grey_levels(store.read_span("m", window_times(100.1, 4, 2, 10.0))) == [0, 0, 1, 3]
    assert grey_levels(store.read_span("m", window_times(106.6, 4, 2, 10.0))) == [62, 64, 66, 66]
    assert store.read_span("m", [101.0], max_short_side=16).shape[0] == 1
    with pytest.raises(FrameStoreError, match="no segmented video 'x'"):
        store.read_span("x", [1.0])


def test_a_failed_segment_is_an_error_to_read_not_a_wrong_frame(tmp_path):
    from sfp.framestore import SegmentRecord

    uri = str(tmp_path / "store")
    clips = [segment_clip("m", 0, 0, 20), segment_clip("m", 2, 40, 20)]  # segment 1 failed to decode
    segments = [SegmentRecord("m", k, clip.clip_id, clip.start_sec, 10.0, 20 * k, 20) for k, clip in zip((0, 2), clips)]
    shard, records = write_shard(uri, shard_name_for(["m"]), clips)
    finalize_store(uri, shards=[shard], records=records, errors=[ErrorRecord("m_seg0001", "m.mkv", "decode", "x")],
                   classes=[], source_rows=3, source={}, decode={}, code_version="t", segments=segments)
    store = FrameStore.open(uri)
    assert grey_levels(store.read_span("m", [100.0, 104.5])) == [0, 45]
    with pytest.raises(FrameStoreError, match="not stored"):
        store.read_span("m", [103.0])


def run_cli(argv: list[str], capsys) -> str:
    from sfp_app.cli.main import main

    assert main(argv) == 0
    return capsys.readouterr().out


def test_framestore_cli_inspect_ls_preview(tmp_path, capsys):
    uri = str(tmp_path / "store")
    build_store(uri)
    summary = json.loads(run_cli(["framestore", "inspect", uri, "--json"], capsys))
    assert (summary["clips"], summary["errors"], summary["rows"], summary["classes"]) == (3, 1, 4, 2)
    assert isinstance(summary["clips"], int) and isinstance(summary["errors"], int)
    assert "clips: 3" in run_cli(["framestore", "inspect", uri], capsys)
    listing = json.loads(run_cli(["framestore", "ls", uri, "--json"], capsys))
    assert [row["clip_id"] for row in listing] == ["a", "b", "c"]
    assert listing[1] == {"clip_id": "b", "path": "videos/b.mp4", "label": "dog", "split": "train", "num_frames": 7,
                          "fps": 30.0, "width": 48, "height": 32}
    assert json.loads(run_cli(["framestore", "ls", uri, "--split", "val", "--json"], capsys)) == []
    table = [line.split("\t") for line in run_cli(["framestore", "ls", uri], capsys).splitlines()]
    assert table == [["clip_id", "path", "label", "split", "num_frames", "fps", "width", "height"],
                     ["a", "videos/a.mp4", "cat", "train", "5", "30", "48", "32"],
                     ["b", "videos/b.mp4", "dog", "train", "7", "30", "48", "32"],
                     ["c", "videos/c.mp4", "cat", "train", "3", "30", "48", "32"]]
    sheet = tmp_path / "sheet.jpg"
    out = run_cli(["framestore", "preview", uri, "b", "-o", str(sheet), "--frames", "4"], capsys)
    assert "4 frames of b" in out
    image = Image.open(sheet)
    assert image.format == "JPEG" and image.size == (2 * 48, 2 * 32)
    first_tile = np.asarray(image.convert("RGB"))[:32, :48]
    assert abs(first_tile.mean() - 1) < 4  # frame 0 of clip b is grey level 10 * 0 + 1

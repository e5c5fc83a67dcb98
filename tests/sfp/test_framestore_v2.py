"""Frame-store schema version 2 (one row per frame, row groups of consecutive frames of one clip): the layout, the
reads, version-1 stores still read, and how many bytes and requests a training window costs on a real S3 server."""

import dataclasses
import io
import json
import pickle

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from sfp.errors import FrameStoreError
from sfp.framestore import (
    EncodedClip,
    FrameStore,
    ShardWriter,
    finalize_store,
    shard_name_for,
    write_shard,
)
from sfp.framestore.schema import SHARD_LAYOUT_KEY
from sfp_app.localstack.counting_proxy import CountingProxy


def grey_jpeg(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 24, 3), value, dtype=np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def noise_jpeg(rng: np.random.Generator) -> bytes:
    """About 8 KB: the size of a 128x96 frame of detail, so that a window weighs what it does in a real store."""
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(buffer, format="JPEG", quality=75)
    return buffer.getvalue()


def clip_of(clip_id: str, frames: list[bytes], fps: float = 30.0) -> EncodedClip:
    return EncodedClip(
        clip_id=clip_id, label="cat", label_id=0, split="train", source_path=f"{clip_id}.mp4", start_sec=None,
        end_sec=None, fps=fps, width=24, height=16, frames=frames, timestamps=[i / fps for i in range(len(frames))],
    )


def grey_clip(clip_id: str, first_level: int, count: int) -> EncodedClip:
    return clip_of(clip_id, [grey_jpeg(first_level + 2 * i) for i in range(count)])


def commit(uri: str, shards_and_records: list, version: int = 2) -> FrameStore:
    shards = [shard for shard, _ in shards_and_records]
    records = [record for _, rows in shards_and_records for record in rows]
    finalize_store(uri, shards=shards, records=records, errors=[], classes=["cat"], source_rows=len(records),
                   source={}, decode={}, code_version="test", schema_version=version)
    return FrameStore.open(uri)


def test_v2_shard_holds_one_row_per_frame_in_row_groups_of_one_clip(tmp_path):
    uri = str(tmp_path / "store")
    clips = [grey_clip("a", 0, 5), grey_clip("b", 40, 7), grey_clip("c", 80, 3)]
    shard, records = write_shard(uri, shard_name_for(["a", "b", "c"]), clips, frames_per_row_group=4)
    assert [(r.row_group, r.row_in_group) for r in records] == [(0, 0), (2, 0), (4, 0)]
    parquet = pq.ParquetFile(tmp_path / "store" / shard.path)
    assert parquet.schema_arrow.names == ["timestamp", "frame"]
    assert [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)] == [4, 1, 4, 3, 3]
    layout = json.loads(parquet.metadata.metadata[SHARD_LAYOUT_KEY.encode()])
    assert layout == {"frames_per_row_group": 4, "clips": [["a", 0, 5], ["b", 2, 7], ["c", 4, 3]]}
    assert parquet.read().column("frame").to_pylist() == [frame for clip in clips for frame in clip.frames]

    store = commit(uri, [(shard, records)])
    assert store.manifest.schema_version == 2
    for clip in clips:
        record = store.record(clip.clip_id)
        assert store.read_jpegs(record) == clip.frames
        assert store.read_timestamps(record) == pytest.approx(clip.timestamps)
    b = store.record("b")
    wanted = [6, 0, 6, 3, 4]  # any order, repeats, across row groups, the clip's short last group
    assert store.read_jpegs(b, wanted) == [clips[1].frames[i] for i in wanted]
    assert [int(round(f.mean())) for f in store.read_frames(b, [0, 6])] == [40, 52]
    with pytest.raises(FrameStoreError, match="frame 7 of a clip of 7 frames"):
        store.read_jpegs(b, [1, 7])
    with pytest.raises(FrameStoreError, match="frame -1"):
        store.read_jpegs(b, [-1])
    with pytest.raises(FrameStoreError, match="no clip starts at row group 1"):
        store.read_jpegs(dataclasses.replace(b, row_group=1))


def test_version_1_stores_are_still_read(tmp_path):
    uri = str(tmp_path / "v1")
    clips = [grey_clip("a", 0, 5), grey_clip("b", 40, 7), grey_clip("c", 80, 3)]
    written = write_shard(uri, shard_name_for(["a", "b", "c"]), clips, clips_per_row_group=2, schema_version=1)
    store = commit(uri, [written], version=1)
    assert json.loads((tmp_path / "v1" / "_manifest.json").read_text())["schema_version"] == 1
    assert pq.ParquetFile(tmp_path / "v1" / written[0].path).schema_arrow.names[-1] == "frames"  # one row per clip
    for clip in clips:
        record = store.record(clip.clip_id)
        assert store.read_jpegs(record) == clip.frames
        assert store.read_jpegs(record, [2, 0]) == [clip.frames[2], clip.frames[0]]
        assert store.read_timestamps(record) == pytest.approx(clip.timestamps)


def test_a_store_resumed_across_the_version_change_reads_both_layouts(tmp_path):
    """A job resumed with newer code keeps the shards an older run finished: each shard's footer tells its layout."""
    uri = str(tmp_path / "mixed")
    old = write_shard(uri, shard_name_for(["a"]), [grey_clip("a", 0, 6)], schema_version=1)
    new = write_shard(uri, shard_name_for(["b"]), [grey_clip("b", 100, 6)], frames_per_row_group=4)
    store = commit(uri, [old, new])
    assert [int(round(f.mean())) for f in store.read_frames("a", [5, 1])] == [10, 2]
    assert [int(round(f.mean())) for f in store.read_frames("b", [5, 1])] == [110, 102]


def test_v2_writer_refuses_what_its_layout_cannot_hold(tmp_path):
    uri = str(tmp_path / "store")
    with pytest.raises(ValueError, match="clips_per_row_group applies to version-1"):
        ShardWriter(uri, shard_name_for(["a"]), clips_per_row_group=2)
    with pytest.raises(ValueError, match="version 7"):
        ShardWriter(uri, shard_name_for(["a"]), schema_version=7)
    with ShardWriter(uri, shard_name_for(["a"])) as writer:
        with pytest.raises(ValueError, match="at least one frame"):
            writer.add(clip_of("empty", []))
        clip = grey_clip("a", 0, 3)
        broken = dataclasses.replace(clip, timestamps=clip.timestamps[:2])
        with pytest.raises(ValueError, match="3 frames but 2 timestamps"):
            writer.add(broken)
        writer.abort()
    assert not (tmp_path / "store").exists()  # nothing was written


# --- bytes and requests on S3 ---------------------------------------------------------------------------------

FRAMES, WINDOW, STRIDE = 300, 64, 2  # a 10 s clip at 30 fps; the 8x8 recipe's 32 frames at stride 2


@pytest.fixture(scope="module")
def s3_stores(s3_server):
    """The same two 300-frame clips as a v1 and a v2 store on SeaweedFS, written without the proxy."""
    rng = np.random.default_rng(0)
    clips = [clip_of(name, [noise_jpeg(rng) for _ in range(FRAMES)]) for name in ("a", "b")]
    env = s3_server.env()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        for version in (1, 2):
            uri = f"s3://sfp-test/framestores/exact-reads-v{version}"
            commit(uri, [write_shard(uri, shard_name_for(["a", "b"]), clips, schema_version=version)], version)
    return {clip.clip_id: clip for clip in clips}


@pytest.fixture
def proxied(s3_env, monkeypatch):
    """S3 clients made from now on talk to SeaweedFS through a counting proxy."""
    with CountingProxy(s3_env.endpoint_url, lifetime_s=600) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy


def measured_read(proxy, store: FrameStore, clip_id: str, first: int):
    """Read one training window (32 frames at stride 2 from `first`): the frames and what it moved."""
    before = proxy.counts()
    frames = store.read_jpegs(store.record(clip_id), list(range(first, first + WINDOW, STRIDE)))
    return frames, proxy.counts() - before


def window_bytes(clip: EncodedClip, first: int) -> int:
    return sum(len(frame) for frame in clip.frames[first:first + WINDOW])


@pytest.mark.parametrize("first", [0, 100, 236])  # aligned with a row group, not aligned, the clip's end
def test_a_training_window_from_s3_moves_at_most_twice_its_bytes_in_a_few_requests(s3_stores, proxied, first):
    clip = s3_stores["b"]
    store = FrameStore.open("s3://sfp-test/framestores/exact-reads-v2")
    store.records  # the index: read once per epoch plan, not per clip
    frames, cold = measured_read(proxied, store, "b", first)  # opens the shard: HEAD, footer, the window
    assert frames == clip.frames[first:first + WINDOW:STRIDE]
    assert cold.response_bytes <= 2 * window_bytes(clip, first) and cold.requests <= 3, cold
    frames, warm = measured_read(proxied, store, "a", first)  # the same shard, still open: the window alone
    assert frames == s3_stores["a"].frames[first:first + WINDOW:STRIDE]
    assert warm.response_bytes <= 1.5 * window_bytes(s3_stores["a"], first) and warm.requests == 1, warm

    restored = pickle.loads(pickle.dumps(store))  # as Ray tasks get it: open shards stay behind
    restored.records
    _, reopened = measured_read(proxied, restored, "a", first)
    assert reopened.requests == cold.requests


def test_a_version_1_store_still_reads_the_whole_clip_per_window(s3_stores, proxied):
    """The baseline the layout change is for (and proof that the proxy sees the difference)."""
    store = FrameStore.open("s3://sfp-test/framestores/exact-reads-v1")
    store.records
    frames, moved = measured_read(proxied, store, "b", 100)
    assert frames == s3_stores["b"].frames[100:164:2]
    clip_bytes = sum(len(frame) for frame in s3_stores["b"].frames)
    assert clip_bytes <= moved.body_bytes <= clip_bytes * 1.05 + 70_000  # the clip's column chunk and the footer
    assert moved.response_bytes > 4 * window_bytes(s3_stores["b"], 100)

"""A resume that verifies: a done marker is reused only when it was written with the same decode settings and plan
and its shard file is still the file it describes (`sfp_preprocess.markers`); anything else is redone."""

import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sfp.config import validate
from sfp.framestore import FrameStore, shard_name_for
from sfp_preprocess.clips import SourceClip
from sfp_preprocess.config import DecodeConfig, PreprocessConfig
from sfp_preprocess.job import plan_shards, run_preprocess
from sfp_preprocess.markers import MarkerKey, marker_uri, plan_sha256, reusable_result
from sfp_preprocess.shard import ShardContext, process_shard
from sfp_preprocess.sources import plan_sources

FRAMES = 32


def make_videos(root: Path, fixtures_dir: Path, count: int) -> list[str]:
    """`count` distinct files (hard links to the 32-frame fixture: cheap to decode)."""
    root.mkdir(parents=True)
    names = [f"clip_{index}.mp4" for index in range(count)]
    for name in names:
        os.link(fixtures_dir / "videos" / "h264_340x256_32frames.mp4", root / name)
    return names


def context(tmp_path: Path, short_side: int = 64) -> ShardContext:
    return ShardContext(store_uri=str(tmp_path / "store"), video_root=str(tmp_path / "videos"),
                        video_extensions=[".mp4"], class_ids={"a": 0}, decode=DecodeConfig(short_side=short_side))


@pytest.fixture
def one_shard(tmp_path, fixtures_dir):
    """A shard of two clips written by `process_shard`, and what a rerun would check its marker against."""
    names = make_videos(tmp_path / "videos", fixtures_dir, 2)
    clips = [SourceClip(name[:-4], "a", "train", (str(tmp_path / "videos" / name),), None, None) for name in names]
    shard = context(tmp_path)
    result = process_shard(shard, clips)
    assert len(result.records) == 2 and not result.resumed
    path = tmp_path / "store" / result.shard.path
    marker = marker_uri(shard.store_uri, result.shard.path)
    key = MarkerKey(shard.decode.model_dump(), plan_sha256(clips, shard.class_ids))
    assert reusable_result(shard.store_uri, marker, key)[0] is not None
    return shard, clips, path, marker, key


def test_a_marker_whose_shard_file_changed_is_not_reused(one_shard):
    shard, clips, path, marker, key = one_shard
    data = path.read_bytes()
    recorded = json.loads(Path(marker).read_text())["shard_file"]
    assert recorded["bytes"] == len(data) and recorded["footer_rows"] == pq.ParquetFile(path).metadata.num_rows
    assert recorded["checksum"].startswith("sha256:") and len(recorded["checksum"]) == 7 + 64

    def why() -> str:
        result, reason = reusable_result(shard.store_uri, marker, key)
        assert result is None
        return reason

    path.unlink()
    assert why() == "its shard file is missing"
    path.write_bytes(data[: len(data) // 2])
    assert why() == f"its shard file has {len(data) // 2} bytes, the marker says {len(data)}"
    path.write_bytes(data[:-16] + bytes(16))  # same size, the footer's end zeroed
    assert why().startswith("its shard file's Parquet footer is unreadable")
    path.write_bytes(data)
    written = json.loads(Path(marker).read_text())
    Path(marker).write_text(json.dumps({**written, "shard_file": {**recorded, "footer_rows": 3}}))
    assert why() == f"its shard file's footer counts {recorded['footer_rows']} rows, the marker says 3"
    Path(marker).write_text(json.dumps({key: value for key, value in written.items() if key != "marker_version"}))
    assert why() == "its marker is of version 1, not 2"  # a marker of the code before: nothing to check it by
    Path(marker).write_text(json.dumps(written))
    assert reusable_result(shard.store_uri, marker, key)[0] is not None


def test_a_damaged_shard_is_redone_by_its_task(one_shard):
    shard, clips, path, marker, key = one_shard
    whole = path.read_bytes()
    path.write_bytes(whole[:1000])
    again = process_shard(shard, clips)
    assert not again.resumed and again.redone == f"its shard file has 1000 bytes, the marker says {len(whole)}"
    assert path.read_bytes() == whole  # decoding is deterministic: the same file again
    assert process_shard(shard, clips).resumed  # and now it verifies


def test_other_decode_settings_or_another_plan_are_redone(one_shard, tmp_path):
    shard, clips, path, marker, key = one_shard
    wider = context(tmp_path, short_side=96)
    result, reason = reusable_result(shard.store_uri, marker, MarkerKey(wider.decode.model_dump(), key.plan_sha256))
    assert result is None and reason == "it was decoded with other settings (short_side 64 -> 96)"
    relabelled = plan_sha256(clips, {"a": 1})  # a label id changes when the class list does
    result, reason = reusable_result(shard.store_uri, marker, MarkerKey(key.decode, relabelled))
    assert result is None and reason == "it was planned with other clips, files, windows or labels"


def job_config(tmp_path: Path, manifest: Path, short_side: int) -> PreprocessConfig:
    return validate(PreprocessConfig, {
        "dataset": {"format": "csv", "manifest": str(manifest), "video_root": str(tmp_path / "videos")},
        "decode": {"short_side": short_side}, "output": {"uri": str(tmp_path / "store"), "clips_per_shard": 1},
        "tracking": {"enabled": False},
    })


@pytest.mark.slow
def test_truncated_shard_and_other_settings_over_an_unfinished_store(tmp_path, fixtures_dir, ray_cluster):
    names = make_videos(tmp_path / "videos", fixtures_dir, 3)
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,label\n" + "".join(f"{name},a\n" for name in names))
    store = tmp_path / "store"

    # An interrupted job at short side 64: two shards done, the file of one since cut short, no manifest.
    config = job_config(tmp_path, manifest, 64)
    plan = plan_sources(config.dataset)
    shards = plan_shards(plan.clips, 1, config.decode.fps)
    done = [process_shard(context(tmp_path), shard) for shard in shards[:2]]
    cut = store / done[0].shard.path
    cut.write_bytes(cut.read_bytes()[:-100])
    assert not (store / "_manifest.json").exists()

    # Rerun at 64: the cut shard is redone, the intact one reused, the third done; every clip reads whole.
    summary = run_preprocess(config)
    assert (summary.manifest.clips, summary.manifest.errors, summary.resumed_shards) == (3, 0, 1)
    (reason, count), = summary.redone_shards.items()
    assert count == 1 and re.fullmatch(r"its shard file has \d+ bytes, the marker says \d+", reason)
    opened = FrameStore.open(str(store))
    for record in opened.records:
        assert record.height == 64 and record.num_frames == FRAMES
        assert opened.read_frames(record, range(FRAMES)).shape == (FRAMES, 64, record.width, 3)

    # Over that store made unfinished again, a rerun at 96 redoes every shard: no store of two resolutions.
    (store / "_manifest.json").unlink()
    summary = run_preprocess(job_config(tmp_path, manifest, 96))
    assert summary.resumed_shards == 0
    assert summary.redone_shards == {"it was decoded with other settings (short_side 64 -> 96)": 3}
    opened = FrameStore.open(str(store))
    assert {record.height for record in opened.records} == {96}
    for record in opened.records:
        assert opened.read_frames(record, [0, FRAMES - 1]).shape == (2, 96, record.width, 3)
    assert sorted(path.name for path in (store / "shards").glob("*.parquet")) == sorted(
        Path(shard_name_for(clip.clip_id for clip in shard)).name for shard in shards)


@pytest.mark.slow
def test_on_s3_a_shard_object_is_checked_by_its_etag(s3_env, tmp_path, fixtures_dir):
    """An object rewritten with other bytes of the same size and a valid footer is caught by the ETag of the HEAD
    that reads its size."""
    names = make_videos(tmp_path / "videos", fixtures_dir, 1)
    clips = [SourceClip("a", "a", "train", (str(tmp_path / "videos" / names[0]),), None, None)]
    shard = ShardContext(store_uri="s3://sfp-test/resume-etag/store", video_root=str(tmp_path / "videos"),
                         video_extensions=[".mp4"], class_ids={"a": 0}, decode=DecodeConfig(short_side=64))
    first = process_shard(shard, clips)
    marker = json.loads(s3_env.client().get_object(
        Bucket="sfp-test", Key=f"resume-etag/store/{first.shard.path[:-len('.parquet')]}.done.json")["Body"].read())
    assert marker["shard_file"]["checksum"].startswith("etag:")
    assert process_shard(shard, clips).resumed

    key = f"resume-etag/store/{first.shard.path}"
    data = s3_env.client().get_object(Bucket="sfp-test", Key=key)["Body"].read()
    body = data[:4] + bytes([data[4] ^ 1]) + data[5:]  # one bit of the first page: same size, same footer
    s3_env.client().put_object(Bucket="sfp-test", Key=key, Body=body)
    again = process_shard(shard, clips)
    assert not again.resumed and again.redone.startswith("its shard object's etag:")
    assert s3_env.client().get_object(Bucket="sfp-test", Key=key)["Body"].read() == data

"""A long video split into parts of a few segments (`output.segments_per_task`), each its own task: the segments come
out as decoding the whole span gives them, byte for byte, on the same frame grid (segment contract). Shard tasks
are run in this process (no Ray): `test_ava.py` runs the job."""

from pathlib import Path

import pytest

from sfp.framestore import FrameStore, finalize_store
from sfp_preprocess.clips import SourceClip
from sfp_preprocess.config import DecodeConfig
from sfp_preprocess.job import plan_shards
from sfp_preprocess.shard import ShardContext, process_shard

FPS, SPAN, SEGMENT = 30.0, (2.5, 16.5), 3.0  # 420 frames in 5 segments of 90 (the last 60)


@pytest.fixture(scope="module")
def movies(make_video) -> dict[str, Path]:
    args = ("-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "48")  # keyframes every 1.6 s: parts seek between them
    return {
        "long": make_video("parts_long.mkv", "-f", "lavfi", "-i", "testsrc=s=128x96:r=30:d=20", *args),
        "short": make_video("parts_short.mp4", "-f", "lavfi", "-i", "testsrc=s=128x96:r=25:d=12", *args),
    }


def movie_clip(video_id: str, path: Path) -> SourceClip:
    return SourceClip(video_id, None, "train", (str(path),), *SPAN, segment_sec=SEGMENT)


def stored(tmp_path: Path, name: str, clips: list[SourceClip], segments_per_task: int | None) -> FrameStore:
    """Run every shard task of the plan here, then commit the store."""
    root = str(Path(clips[0].candidates[0]).parent)
    context = ShardContext(store_uri=str(tmp_path / name), video_root=root, video_extensions=[".mkv", ".mp4"],
                           class_ids={}, decode=DecodeConfig(fps=FPS, short_side=64))
    results = [process_shard(context, shard) for shard in plan_shards(clips, 64, FPS, segments_per_task)]
    records = [record for result in results for record in result.records]
    errors = [error for result in results for error in result.errors]
    finalize_store(context.store_uri, shards=[result.shard for result in results if result.shard], records=records,
                   errors=errors, classes=[], source_rows=len(records) + len(errors), source={}, decode={},
                   code_version="test", segments=[segment for result in results for segment in result.segments])
    return FrameStore.open(context.store_uri)


def test_parts_are_planned_as_tasks_of_their_own():
    clips = [movie_clip("movie_a", Path("a.mkv")), movie_clip("movie_b", Path("b.mkv"))]
    assert [[(clip.clip_id, clip.segment_range) for clip in shard] for shard in plan_shards(clips, 64, FPS)] == [
        [("movie_a", None), ("movie_b", None)]]  # by default a shard holds whole movies
    shards = plan_shards(clips, 64, FPS, segments_per_task=2)
    assert [[(clip.clip_id, clip.segment_range) for clip in shard] for shard in shards] == [
        [("movie_a", (0, 2))], [("movie_a", (2, 3))], [("movie_a", (3, 5))],
        [("movie_b", (0, 2))], [("movie_b", (2, 3))], [("movie_b", (3, 5))]]
    assert shards[1][0].row_ids(FPS) == ["movie_a_seg0002"]
    assert len({shard[0].shard_key for shard in shards}) == 6
    assert SourceClip.from_dict(shards[2][0].to_dict()) == shards[2][0]
    assert "segment_range" not in clips[0].to_dict()  # a whole movie's plan hash is what it was before parts


def test_a_movie_in_parts_is_stored_as_the_whole_movie(tmp_path, movies):
    """One segment per task: every segment boundary is a part's start (the short movie, 25 fps resampled to 30, has
    a grid tick halfway between two source frames at 5.5, 8.5 and 11.5 s), and its last part starts past its end."""
    clips = [movie_clip("longmovie01", movies["long"]), movie_clip("shortmovie2", movies["short"])]
    whole, parts = stored(tmp_path, "whole", clips, None), stored(tmp_path, "parts", clips, 1)
    assert len(parts.manifest.shards) == 9  # a task per part; the short movie's last one stores nothing
    for video in ("longmovie01", "shortmovie2"):
        assert parts.segments(video) == whole.segments(video)  # same index, start times, first frames
        for segment in whole.segments(video):
            assert parts.read_jpegs(parts.record(segment.clip_id)) == whole.read_jpegs(whole.record(segment.clip_id))
    long_segments = parts.segments("longmovie01")
    assert [segment.first_frame for segment in long_segments] == [0, 90, 180, 270, 360]
    assert [segment.num_frames for segment in long_segments] == [90, 90, 90, 90, 60]
    # the short movie ends at 12 s: its fourth segment is cut there, the fifth is an error either way
    assert [segment.num_frames for segment in parts.segments("shortmovie2")] == [90, 90, 90, 15]
    assert [(error.clip_id, error.reason) for error in parts.errors()] == [
        ("shortmovie2_seg0004", "the video ends before this segment")]
    assert [(error.clip_id, error.reason) for error in whole.errors()] == [
        ("shortmovie2_seg0004", "the video ends before this segment")]

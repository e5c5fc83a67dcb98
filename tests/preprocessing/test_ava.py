"""AVA: movies stored over their keyframe span as non-overlapping segments, keyframe windows read back across
segment boundaries. Real (short) movies made with ffmpeg; the keyframe range is a small one instead of 902..1798."""

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from sfp.config import validate
from sfp.errors import SfpError
from sfp.framestore import FrameStore, window_times
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.decode import DecodeParams, decode_clip
from sfp_preprocess.job import run_preprocess

pytestmark = pytest.mark.slow

FPS, SHORT_SIDE = 30.0, 64


@pytest.fixture(scope="module")
def ava_store(tmp_path_factory, make_video, ray_cluster):
    root = tmp_path_factory.mktemp("ava")
    movies = root / "movies"
    movies.mkdir()
    long_movie = make_video("movie_long.mkv", "-f", "lavfi", "-i", "testsrc=s=128x96:r=30:d=20", "-c:v", "libx264",
                            "-pix_fmt", "yuv420p")
    short_movie = make_video("movie_short.mp4", "-f", "lavfi", "-i", "testsrc=s=128x96:r=30:d=12", "-c:v", "libx264",
                             "-pix_fmt", "yuv420p")
    shutil.copy(long_movie, movies / "longmovie01.mkv")
    shutil.copy(short_movie, movies / "shortmovie2.mp4")
    annotations = root / "ava_train_v2.2.csv"
    annotations.write_text(
        "longmovie01,0004,0.1,0.2,0.5,0.9,12,0\n"
        "longmovie01,0015,0.1,0.2,0.5,0.9,80,0\n"
        "shortmovie2,0010,0.2,0.2,0.6,0.8,17,1\n"
        "missingmovi,0005,0.2,0.2,0.6,0.8,17,1\n"
    )
    config = validate(PreprocessConfig, {
        "dataset": {"format": "ava", "manifest": str(annotations), "video_root": str(movies),
                    "ava": {"keyframe_range": [4, 15], "margin_sec": 1.5, "segment_sec": 3}},
        "decode": {"fps": FPS, "short_side": SHORT_SIDE},
        "output": {"uri": str(root / "store"), "clips_per_shard": 64},
        "error_budget": 0.5,
        "tracking": {"enabled": False},
    })
    summary = run_preprocess(config)
    return FrameStore.open(str(root / "store")), summary, long_movie


def test_movies_are_stored_as_non_overlapping_segments(ava_store):
    store, summary, _ = ava_store
    assert store.videos() == ["longmovie01", "shortmovie2"]
    segments = store.segments("longmovie01")
    # span 2.5 .. 16.5 s = 420 frames at 30 fps, in segments of 3 s = 90 frames
    assert [segment.num_frames for segment in segments] == [90, 90, 90, 90, 60]
    assert [segment.start_sec for segment in segments] == pytest.approx([2.5, 5.5, 8.5, 11.5, 14.5])
    assert [segment.first_frame for segment in segments] == [0, 90, 180, 270, 360]
    frames = [frame for segment in segments for frame in store.read_jpegs(store.record(segment.clip_id))]
    assert len(frames) == 420 == len(set(frames))  # testsrc frames all differ: no frame is stored twice
    record = store.record(segments[1].clip_id)
    assert (record.start_sec, record.end_sec, record.label, record.label_id) == (5.5, 8.5, None, -1)
    assert store.read_timestamps(record)[:2] == pytest.approx([0.0, 1 / 30])
    assert store.manifest.source["segments"] == {"keyframe_range": [4, 15], "span_sec": [2.5, 16.5], "segment_sec": 3}


def test_short_and_missing_movies_are_accounted_for(ava_store):
    store, summary, _ = ava_store
    assert [segment.num_frames for segment in store.segments("shortmovie2")] == [90, 90, 90, 15]  # ends at 12 s
    errors = {error.clip_id: error for error in store.errors()}
    assert errors["shortmovie2_seg0004"].reason == "the video ends before this segment"
    assert {clip_id for clip_id, error in errors.items() if error.stage == "locate"} == {
        f"missingmovi_seg{k:04d}" for k in range(5)}
    assert (store.manifest.source_rows, store.manifest.clips, store.manifest.errors) == (15, 9, 6)
    assert summary.errors_by_stage == {"locate": 5, "decode": 1}


def pixels(jpegs):
    return np.stack([np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) for data in jpegs]).astype(np.int16)


@pytest.mark.parametrize("keyframe", [4, 5, 15])
def test_a_keyframe_window_reads_the_same_frames_as_decoding_it_directly(ava_store, keyframe):
    """32 frames at stride 2 centred on the keyframe; keyframe 5 straddles segments 0 and 1, 4 and 15 are the ends
    of the range (the margin holds their windows)."""
    store, _, movie = ava_store
    times = window_times(keyframe, num_frames=32, stride=2, fps=FPS)
    window = store.read_span_jpegs("longmovie01", times)
    direct = decode_clip(str(movie), DecodeParams(fps=FPS, short_side=SHORT_SIDE), times[0], times[-1] + 1 / FPS)
    assert len(direct.frames) == 63
    assert window == direct.frames[::2]  # the same source frames, encoded the same way: the same bytes
    assert np.abs(pixels(window) - pixels(direct.frames[1::2] + direct.frames[-1:])).mean() > 0.5  # frames differ
    assert store.read_span("longmovie01", times).shape == (32, SHORT_SIDE, 86, 3)


def test_keyframes_outside_the_range_are_refused_before_any_work(ava_store, tmp_path):
    annotations = tmp_path / "ava.csv"
    annotations.write_text("longmovie01,0016,0.1,0.2,0.5,0.9,12,0\n")
    config = validate(PreprocessConfig, {
        "dataset": {"format": "ava", "manifest": str(annotations), "ava": {"keyframe_range": [4, 15]}},
        "output": {"uri": str(tmp_path / "store")}, "tracking": {"enabled": False},
    })
    with pytest.raises(SfpError, match="keyframe 16 s is outside"):
        run_preprocess(config)

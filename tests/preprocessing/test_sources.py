"""Planning: manifests and folders -> source clips, without opening a video (and, for manifests, without listing)."""

import time
from pathlib import Path

import fsspec
import pytest

from sfp.config import load_config, validate
from sfp.errors import SfpError
from sfp_preprocess.clips import SourceClip, expand_candidates
from sfp_preprocess.config import DatasetConfig, PreprocessConfig
from sfp_preprocess.job import plan_shards
from sfp_preprocess.sources import plan_sources

EXTENSIONS = [".mp4", ".webm", ".mkv", ".avi", ".mov"]


def dataset(**fields) -> DatasetConfig:
    return validate(DatasetConfig, fields)


def test_every_dataset_yaml_validates(repo_root):
    paths = sorted((repo_root / "configs" / "datasets").glob("*.yaml"))
    assert {path.name for path in paths} >= {"kinetics400.yaml", "example_folder.yaml"}
    for path in paths:
        config = load_config(PreprocessConfig, path)
        assert config.output.uri and config.decode.fps > 0, path
    kinetics = load_config(PreprocessConfig, repo_root / "configs" / "datasets" / "kinetics400.yaml")
    assert kinetics.dataset.manifest.startswith("s3://") and kinetics.output.uri.startswith("s3://")
    assert (kinetics.decode.fps, kinetics.decode.short_side, kinetics.output.clips_per_shard) == (30, 256, 64)


def test_kinetics_trimmed_candidates(tmp_path):
    manifest = tmp_path / "train.csv"
    manifest.write_text("label,youtube_id,time_start,time_end,split\nabseiling,abc,10,20,train\nbowling,xyz,0,10,val\n")
    plan = plan_sources(dataset(manifest=str(manifest), video_root="s3://bucket/k400"))
    first = plan.clips[0]
    assert (first.clip_id, first.label, first.split, first.start_sec, first.end_sec) == (
        "abc_000010_000020", "abseiling", "train", None, None)
    assert expand_candidates(first.candidates, [".mp4", ".webm"]) == [
        "s3://bucket/k400/abseiling/abc_000010_000020.mp4", "s3://bucket/k400/abseiling/abc_000010_000020.webm",
        "s3://bucket/k400/abc_000010_000020.mp4", "s3://bucket/k400/abc_000010_000020.webm",
    ]
    assert plan.classes == ["abseiling", "bowling"]
    split_layout = plan_sources(dataset(manifest=str(manifest), video_root="/v", split_folders=True, label_folders=False))
    assert expand_candidates(split_layout.clips[1].candidates, [".mp4"]) == ["/v/val/xyz_000000_000010.mp4"]


def test_kinetics_untrimmed_cuts_the_window_from_the_full_video(tmp_path):
    manifest = tmp_path / "train.csv"
    manifest.write_text("label,youtube_id,time_start,time_end,split\nabseiling,abc,2,5,train\nabseiling,abc,6,9,train\n")
    plan = plan_sources(dataset(manifest=str(manifest), trimmed=False, label_folders=False))
    assert [(clip.clip_id, clip.start_sec, clip.end_sec) for clip in plan.clips] == [
        ("abc_000002_000005", 2.0, 5.0), ("abc_000006_000009", 6.0, 9.0)]
    assert plan.clips[0].candidates == (f"{tmp_path}/abc.*",)


def test_csv_format_with_windows_and_splits(tmp_path):
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,label,start,end,split\na/one.mp4,cat,,,train\na/one.mp4,cat,1.5,3,val\nb/two.avi,dog,,,\n")
    plan = plan_sources(dataset(format="csv", manifest=str(manifest), video_root="/data/videos"))
    one, window, two = plan.clips
    assert one.candidates == window.candidates == ("/data/videos/a/one.mp4",)
    assert one.clip_id.startswith("one_") and one.clip_id != window.clip_id
    assert (window.start_sec, window.end_sec, window.split) == (1.5, 3.0, "val")
    assert (two.label, two.split, two.start_sec) == ("dog", "train", None)
    assert plan.classes == ["cat", "dog"]


@pytest.mark.parametrize("path", ["../outside.mp4", "a/../../outside.mp4", "/etc/passwd", "s3://other/x.mp4",
                                  "file:///etc/passwd", "..", "a\\..\\..\\x.mp4"])
def test_paths_escaping_the_video_root_are_refused(tmp_path, path):
    manifest = tmp_path / "clips.csv"
    manifest.write_text(f"path,label\n{path},cat\n")
    with pytest.raises(SfpError, match=r"clips.csv:2: video path"):
        plan_sources(dataset(format="csv", manifest=str(manifest)))
    kinetics = tmp_path / "k.csv"
    kinetics.write_text(f"label,youtube_id,time_start,time_end,split,path\ncat,abc,0,10,train,{path}\n")
    with pytest.raises(SfpError, match=r"k.csv:2: video path"):
        plan_sources(dataset(manifest=str(kinetics)))


def make_folder_dataset(root: Path, layout: dict[str, list[str]]) -> None:
    for folder, names in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            (root / folder / name).write_bytes(b"video")


def test_folder_format_lists_one_folder_per_class(tmp_path):
    make_folder_dataset(tmp_path / "videos", {"cat": ["a.mp4", "b.MKV", "notes.txt", ".hidden.mp4"], "dog": ["c.webm"]})
    plan = plan_sources(dataset(format="folder", video_root=str(tmp_path / "videos")))
    assert [(clip.label, Path(clip.candidates[0]).name) for clip in plan.clips] == [
        ("cat", "a.mp4"), ("cat", "b.MKV"), ("dog", "c.webm")]
    assert plan.classes == ["cat", "dog"] and {clip.split for clip in plan.clips} == {"train"}
    again = plan_sources(dataset(format="folder", video_root=str(tmp_path / "videos")))
    assert again.manifest_sha256 == plan.manifest_sha256
    (tmp_path / "videos" / "dog" / "d.mp4").write_bytes(b"more video")
    assert plan_sources(dataset(format="folder", video_root=str(tmp_path / "videos"))).manifest_sha256 != plan.manifest_sha256


def test_folder_format_with_split_folders_and_a_wrong_layout(tmp_path):
    make_folder_dataset(tmp_path / "v", {"train/cat": ["a.mp4"], "val/cat": ["b.mp4"], "val/dog": ["c.mp4"]})
    plan = plan_sources(dataset(format="folder", video_root=str(tmp_path / "v"), split_folders=True))
    assert [(clip.split, clip.label) for clip in plan.clips] == [("train", "cat"), ("val", "cat"), ("val", "dog")]
    with pytest.raises(SfpError, match="expects <label>/<video>"):
        plan_sources(dataset(format="folder", video_root=str(tmp_path / "v")))
    with pytest.raises(SfpError, match="needs video_root"):
        dataset(format="folder")


def test_folder_format_on_s3(s3_env):
    client = s3_env.client()
    for key in ("folder/cat/a.mp4", "folder/cat/b.mp4", "folder/dog/c.mp4", "folder/dog/readme.txt"):
        client.put_object(Bucket="sfp-test", Key=f"sources/{key}", Body=b"video")
    plan = plan_sources(dataset(format="folder", video_root="s3://sfp-test/sources/folder"))
    assert [clip.candidates[0] for clip in plan.clips] == [
        "s3://sfp-test/sources/folder/cat/a.mp4", "s3://sfp-test/sources/folder/cat/b.mp4",
        "s3://sfp-test/sources/folder/dog/c.mp4"]


def test_ava_movies_become_segmented_clips(fixtures_dir, tmp_path):
    manifest = fixtures_dir / "ava" / "ava_sample.csv"
    config = dataset(format="ava", manifest=str(manifest), video_root="s3://b/ava/movies", default_split="val")
    plan = plan_sources(config)
    assert [clip.clip_id for clip in plan.clips] == ["0f39OWEqJ24", "_-Z6wFjXtGQ"]
    movie = plan.clips[0]
    assert (movie.start_sec, movie.end_sec, movie.segment_sec, movie.label, movie.split) == (900.5, 1799.5, 10, None, "val")
    assert movie.candidates == ("s3://b/ava/movies/0f39OWEqJ24.*",)
    rows = movie.row_ids(30.0)
    assert len(rows) == 90 and rows[0] == "0f39OWEqJ24_seg0000" and rows[-1] == "0f39OWEqJ24_seg0089"
    assert plan.classes == []
    small = dataset(format="ava", manifest=str(manifest), ava={"keyframe_range": [2, 8]})
    with pytest.raises(SfpError, match=r"ava_sample.csv:1: keyframe 902 s is outside dataset.ava.keyframe_range \[2, 8\]"):
        plan_sources(small)
    listing = tmp_path / "ava_file_names_trainval_v2.1.txt"
    listing.write_text("-5KQ66BBWC4.mkv\n053oq2xB3oU.mp4\n")
    named = plan_sources(dataset(format="ava", manifest=str(listing)))
    assert [(clip.clip_id, Path(clip.candidates[0]).name) for clip in named.clips] == [
        ("-5KQ66BBWC4", "-5KQ66BBWC4.mkv"), ("053oq2xB3oU", "053oq2xB3oU.mp4")]


def test_ava_span_is_clamped_at_the_start():
    config = dataset(format="ava", manifest="ava.csv", ava={"keyframe_range": [1, 8], "margin_sec": 1.5})
    assert config.ava.span == (0.0, 9.5)


def test_300k_row_kinetics_csv_plans_quickly_without_listing(tmp_path, monkeypatch):
    """Planning reads the CSV and nothing else: no listing, no existence check, not even a connection to S3."""
    manifest = tmp_path / "k400.csv"
    lines = ["label,youtube_id,time_start,time_end,split"]
    lines += [f"class_{row % 400:03d},{row:011d},{row % 290},{row % 290 + 10},train" for row in range(300_000)]
    manifest.write_text("\n".join(lines) + "\n")
    opened: list[str] = []
    real_filesystem = fsspec.filesystem

    def filesystem(protocol, **options):
        opened.append(protocol)
        if protocol != "file":
            raise AssertionError(f"planning touched {protocol}")
        return real_filesystem(protocol, **options)

    monkeypatch.setattr(fsspec, "filesystem", filesystem)
    started = time.perf_counter()
    plan = plan_sources(dataset(manifest=str(manifest), video_root="s3://k400-bucket/videos"))
    shards = plan_shards(plan.clips, 64, fps=30.0)
    seconds = time.perf_counter() - started
    assert len(plan.clips) == 300_000 and len(plan.classes) == 400
    assert len(shards) == 4688 and sum(len(shard) for shard in shards) == 300_000
    assert set(opened) == {"file"}  # the local manifest only
    assert seconds < 60, f"planning 300k rows took {seconds:.1f} s"
    print(f"planned 300k rows into {len(shards)} shards in {seconds:.2f} s")


@pytest.mark.parametrize(("clips", "sizes"), [(96, [48, 48]), (64, [64]), (130, [44, 44, 42]), (3, [3])])
def test_shards_are_as_even_as_the_limit_allows(clips, sizes):
    """At most `clips_per_shard` rows a shard, and no small last shard that would finish alone on one core."""
    plan = [SourceClip(f"clip{index:04d}", "cat", "train", (f"clip{index:04d}.mp4",), None, None)
            for index in range(clips)]
    shards = plan_shards(plan, 64, fps=30.0)
    assert [len(shard) for shard in shards] == sizes
    assert [clip for shard in shards for clip in shard] == plan  # consecutive, by id
    assert plan_shards(list(reversed(plan)), 64, fps=30.0) == shards  # the plan depends on the clips only


def test_duplicate_clips_are_refused(tmp_path):
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,label\na.mp4,cat\na.mp4,cat\n")
    with pytest.raises(SfpError, match="appears twice"):
        plan_sources(dataset(format="csv", manifest=str(manifest)))

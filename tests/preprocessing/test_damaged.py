"""Damaged sources: an mp4 cut in half after a faststart remux still probes as whole (its index, at the front, states
the full duration) and ffmpeg decodes what is there without an error. It must be an error row "truncated: n of N
frames", not a short clip; `sfp preprocess` ends with a table of the error reasons, `sfp framestore errors` lists
the rows."""

import re
import shutil
from pathlib import Path

import pytest

from sfp_app.cli.main import main
from sfp_preprocess.clips import SourceClip
from sfp_preprocess.config import DecodeConfig
from sfp_preprocess.decode import TRUNCATED_BELOW, DecodeError, DecodeParams, decode_clip, decode_rows
from sfp_preprocess.probe import probe_video
from sfp_preprocess.shard import ShardContext, process_shard

FRAMES = 32  # h264_340x256_32frames.mp4, 30 fps
PARAMS = DecodeParams(short_side=64)


@pytest.fixture(scope="module")
def half_cut(videos: Path, make_video, tmp_path_factory: pytest.TempPathFactory) -> Path:
    whole = make_video("faststart_32frames.mp4", "-i", str(videos / "h264_340x256_32frames.mp4"), "-c", "copy",
                       "-movflags", "+faststart")
    data = whole.read_bytes()
    assert data[4:8] == b"ftyp" and data.index(b"moov") < data.index(b"mdat")  # the index is in front
    cut = tmp_path_factory.mktemp("damaged") / "half.mp4"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def test_a_half_cut_mp4_probes_whole_and_decodes_as_truncated(half_cut):
    info = probe_video(str(half_cut), timeout_sec=30, max_memory_mb=2048)
    assert info.frame_count(None, None, 30.0) == FRAMES  # the container still says 1.07 s
    with pytest.raises(DecodeError) as caught:
        decode_clip(str(half_cut), PARAMS)
    assert caught.value.stage == "decode"
    decoded = int(re.fullmatch(rf"truncated: (\d+) of {FRAMES} frames", caught.value.reason).group(1))
    assert 0 < decoded < TRUNCATED_BELOW * FRAMES


def test_rows_before_the_cut_stay_and_the_rest_fail(half_cut):
    """A long video decoded in rows (AVA segments): rows yielded before the end are valid, then the error."""
    info = probe_video(str(half_cut), timeout_sec=30, max_memory_mb=2048)
    rows = decode_rows(str(half_cut), PARAMS, info, frames_per_row=4)
    kept = []
    with pytest.raises(DecodeError, match=rf"truncated: \d+ of {FRAMES} frames"):
        for row in rows:
            kept.append(row)
    assert kept and all(len(row.frames) == 4 and row.height == 64 for row in kept)
    assert [row.first_frame for row in kept] == list(range(0, 4 * len(kept), 4))


def test_a_truncated_source_is_an_error_row_of_its_shard(half_cut, videos, tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    shutil.copy(half_cut, root / "cut.mp4")
    shutil.copy(videos / "h264_340x256_32frames.mp4", root / "whole.mp4")
    context = ShardContext(store_uri=str(tmp_path / "store"), video_root=str(root), video_extensions=[".mp4"],
                           class_ids={"a": 0}, decode=DecodeConfig(short_side=64))
    clips = [SourceClip(name, "a", "train", (str(root / f"{name}.mp4"),), None, None) for name in ("cut", "whole")]
    result = process_shard(context, clips)
    assert [record.clip_id for record in result.records] == ["whole"]
    assert result.records[0].num_frames == FRAMES
    (error,) = result.errors
    assert (error.clip_id, error.stage) == ("cut", "decode")
    assert re.fullmatch(rf"truncated: \d+ of {FRAMES} frames", error.reason)


@pytest.mark.slow
def test_preprocess_ends_with_a_table_of_error_reasons(half_cut, videos, tmp_path, ray_cluster, capsys):
    import ray

    root = tmp_path / "videos"
    root.mkdir()
    for name in ("cut_1", "cut_2"):
        shutil.copy(half_cut, root / f"{name}.mp4")
    shutil.copy(videos / "h264_340x256_32frames.mp4", root / "whole.mp4")
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,label\ncut_1.mp4,a\ncut_2.mp4,a\nmissing.mp4,b\nwhole.mp4,b\n")
    store = tmp_path / "store"
    code = main(["preprocess", "--format", "csv", "--manifest", str(manifest), "--video-root", str(root),
                 "--output", str(store), "--ray-address", ray.get_runtime_context().gcs_address,
                 "decode.short_side=64", "output.clips_per_shard=2", "tracking.enabled=false", "error_budget=0.5"])
    out, err = capsys.readouterr()
    assert code == 2 and "3 of 4 clips failed (75.0% > budget 50.0%)" in err, out  # over budget: the table first
    table = out[out.index("errors by reason"):].splitlines()
    assert table[1].split() == ["count", "stage", "reason"]
    assert re.fullmatch(rf"\s+2  decode  truncated: \d+ of {FRAMES} frames", table[2])
    assert re.fullmatch(r"\s+1  locate  video not found: …", table[3])
    assert len(table) == 4

    assert main(["framestore", "errors", str(store)]) == 0
    rows = sorted(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert [(row[0].rsplit("_", 1)[0], row[1]) for row in rows] == [
        ("cut_1", "decode"), ("cut_2", "decode"), ("missing", "locate")]  # csv clip ids: <stem>_<8 hex>
    assert all(re.fullmatch(rf"truncated: \d+ of {FRAMES} frames", row[2]) for row in rows[:2])
    assert rows[2][2] == f"video not found: {root / 'missing.mp4'}"
    assert main(["framestore", "errors", str(store), "--stage", "locate"]) == 0
    assert [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()] == ["locate"]


"""benchmarks/bench_preprocess.py on 2 clips x 1 round: our job and the ffmpeg command line write the same number of
frames per clip, and the report prints the ratio. No timing is asserted."""

import re

import pytest

pytestmark = pytest.mark.slow  # starts a Ray cluster


@pytest.fixture(scope="module")
def bench_preprocess(load_benchmark):
    with load_benchmark("bench_preprocess") as module:
        yield module


def test_both_contenders_write_the_same_frames_and_the_report_prints_the_ratio(bench_preprocess, tmp_path,
                                                                                ray_cluster):
    videos = bench_preprocess.make_dataset(tmp_path / "dataset", clips=1, lavfi=1)
    assert sorted(videos) == ["clip0000", "gen0000"]
    bench = bench_preprocess.Bench(tmp_path / "dataset", videos, cores=2, clips_per_shard=1)
    (tmp_path / "scratch").mkdir()
    lines, rounds, whole_rounds = bench_preprocess.run(bench, 1, tmp_path / "scratch")

    (results,), (whole,) = rounds, whole_rounds
    job, command, reference = results["sfp job"], whole["sfp preprocess"], results["ffmpeg CLI"]
    assert sorted(results) == ["ffmpeg CLI", "sfp job"] and sorted(whole) == ["ffmpeg CLI", "sfp preprocess"]
    # the 10 s fixture at 30 fps; 6 s of lavfi at 25 fps resampled to 30
    assert job.frames == command.frames == reference.frames == whole["ffmpeg CLI"].frames == {"clip0000": 300,
                                                                                             "gen0000": 180}
    assert job.bytes_out > 0 and reference.bytes_out > 0 and job.cpu > 0 and reference.cpu > 0
    assert command.wall > 0 and command.bytes_out == job.bytes_out  # the same recipe, in a process of its own
    assert list((tmp_path / "scratch").glob("out-*")) == []  # every round's output is removed

    text = "\n".join(lines)
    for name in ("sfp job", "ffmpeg CLI"):
        assert re.search(rf"^\s*{name}\s+\d+\.\d+\s+\d+\.\d+\s+\d+\s+\d+\.\d+", text, re.MULTILINE), text
    assert re.search(r"^\s*sfp preprocess\s+\d+\.\d+\s+-\s+\d+\s+\d+\.\d+", text, re.MULTILINE), text
    assert re.search(r"^once started, sfp job / ffmpeg CLI: \d+\.\d+x clips/s .* \d+\.\d+x CPU-s per clip; "
                     r"target <= 1\.0x CPU-s: (met|NOT met)$", text, re.MULTILINE), text
    assert re.search(r"^whole process, sfp preprocess / ffmpeg CLI: \d+\.\d+x clips/s .*; target >= 0\.8x: "
                     r"(met|NOT met)$", text, re.MULTILINE), text
    assert "the same count for every clip" in text
    # start-up apart from the rounds, and where a clip's CPU goes
    assert re.search(r"^start-up of sfp job \(not in the rounds\): Ray \d+\.\d s, first job on 2 clips \d+\.\d s",
                     text, re.MULTILINE), text
    stages = dict(re.findall(r"(probe|ffmpeg decode|task Python|task total|ffmpeg CLI) (\d+\.\d+)", text))
    assert sorted(stages) == ["ffmpeg CLI", "ffmpeg decode", "probe", "task Python", "task total"], text
    # separate measurements of a noisy CPU: only what holds by construction (the task's total includes its Python)
    assert float(stages["probe"]) >= 0 and float(stages["ffmpeg decode"]) > 0, text
    assert float(stages["task total"]) >= float(stages["task Python"]) > 0, text

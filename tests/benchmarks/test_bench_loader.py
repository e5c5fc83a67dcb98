"""benchmarks/bench_loader.py on 2 clips x 1 round: the contenders see the same clips and produce the same model
inputs (the frame store's through the worker-side decoder), and the report prints every ratio, the device decode's
throughput and the S3 read costs. No timing is asserted."""

import re

import numpy as np
import pyarrow as pa
import pytest
import torch

from sfp_train.data.sampling import train_frame_indices



@pytest.fixture(scope="module")
def bench_loader(load_benchmark):
    with load_benchmark("bench_loader") as module:
        yield module


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("bench-loader")


@pytest.fixture(scope="module")
def bench(bench_loader, workdir):
    return bench_loader.prepare(workdir, clips=2, short_side=256)


@pytest.fixture
def restore_threads():
    saved = torch.get_num_threads(), pa.cpu_count(), pa.io_thread_count()
    yield
    torch.set_num_threads(saved[0])
    pa.set_cpu_count(saved[1])
    pa.set_io_thread_count(saved[2])


def test_contenders_produce_the_same_shapes(bench_loader, bench):
    from sfp_train.data.pipeline import train_decoder

    assert len(bench.batches) == 2
    decoder = train_decoder(bench.data, arch="slowfast", alpha=4)
    for batch in bench.batches:
        encoded = bench.contenders["frame store"](batch)
        assert set(encoded) == {"jpegs", "region", "flip", "label"} and len(encoded["jpegs"][0]) == 32
        ours = {key: value.numpy() for key, value in decoder(encoded, torch.device("cpu")).items()}
        host, pyav, floor = (bench.contenders[name](batch) for name in ("host decode", "PyAV", "JPEG floor"))
        assert set(ours) == set(host) == set(pyav) == {"pathway_0", "pathway_1", "label"}
        assert host["pathway_1"].shape == ours["pathway_1"].shape
        assert ours["pathway_0"].shape == pyav["pathway_0"].shape == (1, 3, 8, 224, 224)
        assert ours["pathway_1"].shape == pyav["pathway_1"].shape == (1, 3, 32, 224, 224)
        assert ours["pathway_1"].dtype == pyav["pathway_1"].dtype == np.float32
        np.testing.assert_array_equal(ours["label"], pyav["label"])
        assert floor["frames"].shape == (1, 32, 256, 340, 3)  # the 32 sampled frames, as stored, no augmentation


def test_pyav_decodes_the_frames_the_store_holds(bench_loader, bench):
    """Same window, same frames: the PyAV path's frames are the stored ones up to JPEG loss, and far from the next
    frame's, so the baseline decodes exactly the window the frame store serves."""
    record = bench.store.clips()[0]
    indices = train_frame_indices(record.num_frames, 32, 2, np.random.default_rng(3))
    pyav_loader = bench.contenders["PyAV"]
    decoded = bench_loader.decode_window_pyav(pyav_loader.videos[record.clip_id], indices, record.fps)
    stored = bench.store.read_frames(record, indices).astype(np.float32)
    following = bench.store.read_frames(record, np.minimum(indices + 8, record.num_frames - 1)).astype(np.float32)
    assert decoded.shape == stored.shape == (32, 256, 340, 3)
    assert np.abs(decoded - stored).mean() < 4.0
    assert np.abs(decoded - following).mean() > 2 * np.abs(decoded - stored).mean()


def test_the_benchmark_prints_both_ratios_and_the_s3_read_costs(bench_loader, bench, workdir, capsys, restore_threads,
                                                               s3_env):
    bench_loader.main(["--clips", "2", "--rounds", "1", "--short-side", "256", "--workdir", str(workdir),
                       "--s3-uri", "s3://sfp-test/bench-loader"])
    out = capsys.readouterr().out
    for name in ("frame store", "host decode", "PyAV", "JPEG floor"):
        assert re.search(rf"^\s*{name}\s+\d+\.\d+\s+\d+\.\d+\s+\d+\.\d+ \.\. \d+\.\d+\s+\d+\.\d$", out, re.MULTILINE), out
    for ours, other, target in (("host decode", "PyAV", r"5"), ("host decode", "JPEG floor", r"0\.5"),
                                ("frame store", "host decode", r"5")):
        line = rf"^ratio {ours} / {other}: \d+\.\d+ CPU time .*, \d+\.\d+ wall; target >= {target}: (met|NOT met)$"
        assert re.search(line, out, re.MULTILINE), out
    assert re.search(r"^device decode \(ClipDecoder on cpu, batches of 4 clips\): \d+ frames/s wall, \d+ frames/CPU-s, "
                     r"[\d.]+ CPU-ms per clip", out, re.MULTILINE), out
    # bytes and requests per clip of the real clip's windows, read from S3 through the counting proxy
    table = re.findall(r"^\s+(v[12])\s+(first read|open)\s+[\d.]+\s+([\d.]+) \(\s*([\d.]+)\)\s+(\d+)\s", out, re.MULTILINE)
    rows = {(layout, shard): (float(ratio), float(worst), int(requests))
            for layout, shard, ratio, worst, requests in table}
    assert len(rows) == 4, out
    assert rows["v2", "first read"][1] <= 2 and rows["v2", "first read"][2] <= 3  # HEAD, footer, the window
    assert rows["v2", "open"][1] <= 2 and rows["v2", "open"][2] == 1
    assert rows["v1", "open"][0] > 3  # v1 reads the whole 300-frame clip for a 64-frame window
    assert re.search(r"^v2 layout: at most [\d.]+x the window per clip; target <= 2x: met$", out, re.MULTILINE), out

"""Memory per worker stays flat as the dataset grows: 100 vs 1,000 tiny clips, peak RSS of the decode tasks.

Each task measures its worker's peak resident memory (`ru_maxrss`) and returns it in its shard result; the job's
summary holds the largest. A task holds one shard's plan and one clip's frames, whatever the dataset's size. The
clips are ten 0.1 s windows of each of 100 one-second files (hard links to one tiny video), so each row costs one
ffmpeg run (the windows of a file share one probe)."""

import os
import subprocess

import pytest

from sfp.config import validate
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.job import run_preprocess

pytestmark = [pytest.mark.slow, pytest.mark.extended]

FILES, WINDOWS = 100, 10


def make_dataset(root):
    tiny = root / "tiny.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=s=32x32:r=30:d=1",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(tiny)], check=True)
    (root / "videos").mkdir()
    lines = ["path,label,start,end"]
    for index in range(FILES):
        os.link(tiny, root / "videos" / f"video_{index:03d}.mp4")
        lines += [f"video_{index:03d}.mp4,class_{index % 10},{k / 10:.1f},{(k + 1) / 10:.1f}" for k in range(WINDOWS)]
    (root / "clips.csv").write_text("\n".join(lines) + "\n")
    return root / "clips.csv"


def job(manifest, output, limit=None) -> PreprocessConfig:
    return validate(PreprocessConfig, {
        "dataset": {"format": "csv", "manifest": str(manifest), "video_root": str(manifest.parent / "videos")},
        "decode": {"short_side": 32},
        "output": {"uri": str(output), "clips_per_shard": 50},
        "tracking": {"enabled": False},
        "limit": limit,
    })


def test_peak_worker_memory_is_flat_from_100_to_1000_clips(tmp_path, ray_cluster):
    manifest = make_dataset(tmp_path)
    small = run_preprocess(job(manifest, tmp_path / "store100", limit=100))
    large = run_preprocess(job(manifest, tmp_path / "store1000"))
    assert (small.manifest.clips, large.manifest.clips) == (100, 1000)
    assert small.manifest.errors == large.manifest.errors == 0
    print(f"\n100 clips: {small.clips_per_second:.1f} clips/s, {small.cpu_seconds_per_clip:.3f} CPU-s/clip, "
          f"peak worker RSS {small.peak_worker_rss_mb:.0f} MB; "
          f"1000 clips: {large.clips_per_second:.1f} clips/s, {large.cpu_seconds_per_clip:.3f} CPU-s/clip, "
          f"peak worker RSS {large.peak_worker_rss_mb:.0f} MB")
    assert 0 < small.peak_worker_rss_mb and 0 < large.peak_worker_rss_mb
    assert large.peak_worker_rss_mb < small.peak_worker_rss_mb * 1.15 + 20

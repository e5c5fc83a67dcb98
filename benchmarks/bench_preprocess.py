"""Preprocessing clips/s on the same cores: our Ray Data job (videos -> Parquet frame store) against the reference
way of PySlowFast and MMAction2, the `ffmpeg` command line writing one JPEG file per frame.

Both contenders turn the same clips into JPEG frames at the same settings: 30 fps, short side 256 (bicubic, as
`scale=-2:256` defaults to), ffmpeg's mjpeg quantiser `-q:v 4` (`decode.jpeg_qscale`), one ffmpeg thread per process,
as many processes as cores. The clips are hard links to (or copies of) the real 10 s H.264 Kinetics fixture clip
(340x256, 30 fps) under distinct names, plus a few clips that ffmpeg generates from `lavfi` test sources (other
sizes and frame rates: 25 and 24 fps are resampled to 30), in the folder format (`<label>/<file>`):

- `sfp job`: `sfp_preprocess.job.run_preprocess` on a local Ray cluster of as many CPUs as cores (one shard task
  per CPU at a time), output on local disk, tracking off, `--clips-per-shard` clips per task so that every core has
  work. Its wall time is the job's own (planning, tasks, the manifest commit); its CPU time is the job summary's
  (each task's own and its ffmpeg processes').
- `sfp preprocess` (the whole process): the command line itself, `sfp preprocess RECIPE` in a fresh process, with
  the same recipe as `sfp job`: Python's start, imports, its own local Ray (as many logical CPUs as a user's run
  gets), the job and Ray's shutdown. Wall time only (Ray's daemons are not its children). Measured after the
  bench's own Ray is shut down (when the bench started it): an idle Ray beside it made a fresh `sfp preprocess` of
  the 96 clips 28% slower (42.5 s against 33.3 s), which no user's run pays.
- `ffmpeg CLI`: `ffmpeg -i in.mp4 -vf fps=30,scale=-2:256 -q:v 4 out/%06d.jpg` per clip, in a process pool of as
  many processes as cores. Its CPU time is the ffmpeg processes' (`getrusage(RUSAGE_CHILDREN)` in each pool worker)
  plus the pool workers' own. The pool runs at the niceness Ray gives its workers (15 by default), so that on a
  machine busy with other work both get the same share of it.

The rounds come in two phases: `sfp job` and the CLI with Ray running, then `sfp preprocess` and the CLI without
it. Each round runs its pair once on every clip, the order alternating between rounds so that load from other
processes hits both alike; the report gives medians over rounds and the ratio of throughputs (median of the
per-round ratios: both sides of a ratio ran in the same round). Before the rounds, each contender runs once on two
clips (Ray's workers and the pool start there). Output bytes per clip are compared with the source video's.

    .venv/bin/python benchmarks/bench_preprocess.py --clips 92 --lavfi 4 --rounds 3   # the defaults, ~5 min

`--ava N` measures instead the wall time of the AVA job over N movies (lavfi `testsrc2`, 1280x720 H.264 at 30 fps,
`--movie-sec` long, stored over all but their first and last 2.5 s in 10 s segments), a movie per task (today's
plan: `clips_per_shard` below a movie's segments, as AVA's 90-segment movies are at 64) against
`output.segments_per_task` (`--segments-per-task`), back to back in each round, the order alternating.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from sfp.config import validate
from sfp.framestore import FrameStore
from sfp.raycluster import init_ray
from sfp_preprocess.config import PreprocessConfig
from sfp_preprocess.job import run_preprocess

SOURCE_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "videos" / "kinetics_clip_340x256_10s.mp4"
FPS, SHORT_SIDE, QSCALE = 30, 256, 4  # the job's DecodeConfig defaults, and the reference command's settings

# lavfi test clips: (source, size, frame rate, seconds); landscape, so that `scale=-2:256` is a short side of 256
LAVFI_SOURCES = [
    ("testsrc2", "480x270", 25, 6),
    ("mandelbrot", "320x240", 24, 5),
    ("testsrc2", "640x360", 30, 4),
    ("smptehdbars", "426x240", 30, 8),
]


# --- data ----------------------------------------------------------------------------------------------------


def make_dataset(root: Path, *, clips: int, lavfi: int, video: Path = SOURCE_VIDEO) -> dict[str, Path]:
    """`clips` links to `video` in `root/fixture/` and `lavfi` generated clips in `root/lavfi/` (a folder-format
    dataset, kept ones reused). Returns every clip's path by clip name."""
    paths: dict[str, Path] = {}
    (root / "fixture").mkdir(parents=True, exist_ok=True)
    for number in range(clips):
        path = root / "fixture" / f"clip{number:04d}.mp4"
        if not path.exists():
            try:
                os.link(video, path)
            except OSError:  # another file system, or hard links to others' files not allowed
                shutil.copyfile(video, path)
        paths[path.stem] = path
    if lavfi:
        (root / "lavfi").mkdir(exist_ok=True)
    for number in range(lavfi):
        source, size, rate, seconds = LAVFI_SOURCES[number % len(LAVFI_SOURCES)]
        path = root / "lavfi" / f"gen{number:04d}.mp4"
        if not path.exists():
            subprocess.run(
                ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                 "-i", f"{source}=size={size}:rate={rate}", "-t", str(seconds), "-c:v", "libx264", "-preset", "fast",
                 "-pix_fmt", "yuv420p", str(path)],
                check=True, timeout=120,
            )
        paths[path.stem] = path
    return paths


# --- the contenders -----------------------------------------------------------------------------------------


@dataclass
class Result:
    wall: float  # seconds
    cpu: float  # CPU-seconds, child processes included
    frames: dict[str, int]  # frames written per clip name
    bytes_out: int


def job_recipe(dataset: Path, output: Path, *, clips_per_shard: int, cpus_per_task: float) -> dict:
    """The preprocessing recipe both `sfp job` and `sfp preprocess` run."""
    return {
        "dataset": {"format": "folder", "video_root": str(dataset)},
        "decode": {"fps": FPS, "short_side": SHORT_SIDE, "jpeg_qscale": QSCALE},
        "output": {"uri": str(output), "clips_per_shard": clips_per_shard},
        "tracking": {"enabled": False},
        "error_budget": 0.0,
        "cpus_per_task": cpus_per_task,
    }


def run_job(dataset: Path, output: Path, *, clips_per_shard: int, cpus_per_task: float) -> Result:
    """Our preprocessing job over the folder dataset, into a fresh frame store at `output`, in this process."""
    config = validate(PreprocessConfig, job_recipe(dataset, output, clips_per_shard=clips_per_shard,
                                                   cpus_per_task=cpus_per_task), source="bench_preprocess")
    started = time.perf_counter()
    summary = run_preprocess(config)
    wall = time.perf_counter() - started
    store = FrameStore.open(str(output))
    frames = {Path(record.source_path).stem: record.num_frames for record in store.clips()}
    return Result(wall, summary.cpu_seconds, frames, summary.manifest.total_bytes)


def run_command(dataset: Path, output: Path, *, clips_per_shard: int, cpus_per_task: float) -> Result:
    """`sfp preprocess RECIPE` as a user runs it, in a fresh process (its own Ray); wall time from its start."""
    import yaml

    recipe = output.parent / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(job_recipe(dataset, output, clips_per_shard=clips_per_shard,
                                                cpus_per_task=cpus_per_task)))
    command = [str(Path(sys.executable).with_name("sfp")), "preprocess", str(recipe)]
    environment = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=1800)
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {(finished.stderr or finished.stdout)[-2000:]}")
    store = FrameStore.open(str(output))
    frames = {Path(record.source_path).stem: record.num_frames for record in store.clips()}
    return Result(wall, 0.0, frames, store.manifest.total_bytes)


def reference_command(video: Path, out_dir: Path, threads: int) -> list[str]:
    """PySlowFast's / MMAction2's extraction, at our settings; `-threads` as each job task runs ffmpeg."""
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", str(threads), "-i", str(video),
            "-vf", f"fps={FPS},scale=-2:{SHORT_SIDE}", "-q:v", str(QSCALE), "-threads", str(threads),
            str(out_dir / "%06d.jpg")]


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def extract_frames(video: Path, out_dir: Path, threads: int) -> tuple[float, int, int]:
    """One pool task: the reference command on one clip. Returns (CPU-seconds of the ffmpeg process and of this
    task, frames, bytes written)."""
    own, children = _cpu(resource.getrusage(resource.RUSAGE_SELF)), _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    out_dir.mkdir(parents=True)
    subprocess.run(reference_command(video, out_dir, threads), check=True, timeout=600)
    files = list(out_dir.iterdir())
    size = sum(path.stat().st_size for path in files)
    cpu = (_cpu(resource.getrusage(resource.RUSAGE_SELF)) - own
           + _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - children)
    return cpu, len(files), size


def run_reference(pool: ProcessPoolExecutor, videos: dict[str, Path], output: Path, threads: int) -> Result:
    started = time.perf_counter()
    futures = {name: pool.submit(extract_frames, path, output / name, threads) for name, path in videos.items()}
    done = {name: future.result() for name, future in futures.items()}
    wall = time.perf_counter() - started
    return Result(wall, sum(cpu for cpu, _, _ in done.values()), {name: count for name, (_, count, _) in done.items()},
                  sum(size for _, _, size in done.values()))


# --- measuring ----------------------------------------------------------------------------------------------


@dataclass
class Bench:
    dataset: Path  # the folder-format dataset
    videos: dict[str, Path]
    cores: int
    clips_per_shard: int
    cpus_per_task: float = PreprocessConfig.model_fields["cpus_per_task"].default
    ffmpeg_threads: int = 1
    whole_process: bool = True  # also rounds of `sfp preprocess` in a fresh process, against the CLI


JOB, COMMAND, REFERENCE = "sfp job", "sfp preprocess", "ffmpeg CLI"


def run_round(bench: Bench, pool: ProcessPoolExecutor, scratch: Path, order: Sequence[str]) -> dict[str, Result]:
    """Both contenders once over every clip, in `order`, each into a fresh folder removed afterwards."""
    results = {}
    for name in order:
        output = Path(tempfile.mkdtemp(prefix="out-", dir=scratch))
        try:
            if name == JOB:
                results[name] = run_job(bench.dataset, output / "store", clips_per_shard=bench.clips_per_shard,
                                        cpus_per_task=bench.cpus_per_task)
            elif name == COMMAND:
                results[name] = run_command(bench.dataset, output / "store", clips_per_shard=bench.clips_per_shard,
                                            cpus_per_task=bench.cpus_per_task)
            else:
                results[name] = run_reference(pool, bench.videos, output, bench.ffmpeg_threads)
        finally:
            shutil.rmtree(output, ignore_errors=True)
    return results


def report(rounds: list[dict[str, Result]], whole_rounds: list[dict[str, Result]],
           videos: dict[str, Path]) -> list[str]:
    """Median clips/s (wall) and CPU-s per clip of each contender, the throughput ratios job / ffmpeg CLI (from
    `rounds`) and whole process / ffmpeg CLI (from `whole_rounds`), output bytes per clip against the source's, and
    whether all wrote the same frames per clip."""
    clips = len(videos)
    source_bytes = sum(path.stat().st_size for path in videos.values()) / clips


    lines = [f"{'':>14}  {'clips/s':>8}  {'CPU-s/clip':>10}  {'bytes/clip':>11}  {'x source':>8}  "
             f"{'(clips/s min..max over rounds)':>30}"]
    for name in (JOB, COMMAND, REFERENCE):
        measured = whole_rounds if name == COMMAND else rounds
        if not measured:
            continue
        rates = [clips / results[name].wall for results in measured]
        out = statistics.median(results[name].bytes_out for results in measured) / clips
        cpu = (f"{statistics.median(results[name].cpu for results in measured) / clips:10.3f}"
               if name != COMMAND else f"{'-':>10}")
        lines.append(f"{name:>14}  {statistics.median(rates):8.2f}  {cpu}  "
                     f"{out:11.0f}  {out / source_bytes:8.2f}  {min(rates):17.2f} .. {max(rates):.2f}")
    lines.append(f"{'source':>14}  {'':>8}  {'':>10}  {source_bytes:11.0f}  {1.0:8.2f}")
    ratios = [results[REFERENCE].wall / results[JOB].wall for results in rounds]
    cpu_ratios = [results[JOB].cpu / results[REFERENCE].cpu for results in rounds]
    ratio = statistics.median(ratios)
    cpu_ratio = statistics.median(cpu_ratios)
    lines.append(f"once started, {JOB} / {REFERENCE}: {ratio:.2f}x clips/s ({min(ratios):.2f}..{max(ratios):.2f} over "
                 f"rounds), {cpu_ratio:.2f}x CPU-s per clip; target <= 1.0x CPU-s: "
                 f"{'met' if cpu_ratio <= 1.0 else 'NOT met'}")
    if whole_rounds:
        whole = [results[REFERENCE].wall / results[COMMAND].wall for results in whole_rounds]
        more = (statistics.median(results[COMMAND].wall for results in whole_rounds)
                - statistics.median(results[JOB].wall for results in rounds))
        reference = statistics.median(results[REFERENCE].wall for results in whole_rounds)
        lines.append(f"whole process, {COMMAND} / {REFERENCE}: {statistics.median(whole):.2f}x clips/s "
                     f"({min(whole):.2f}..{max(whole):.2f} over rounds, against the CLI's {reference:.1f} s of the "
                     f"same rounds; {more:.1f} s more than {JOB} on a running Ray); target >= 0.8x: "
                     f"{'met' if statistics.median(whole) >= 0.8 else 'NOT met'}")
    job_frames, reference_frames = rounds[-1][JOB].frames, rounds[-1][REFERENCE].frames
    last = list(rounds[-1].values()) + (list(whole_rounds[-1].values()) if whole_rounds else [])
    differ = sorted(name for name in videos  # any contender against the reference
                    if any(result.frames.get(name) != reference_frames.get(name) for result in last))
    total = sum(job_frames.values())
    lines.append(f"frames: {total} written by {JOB}, {sum(reference_frames.values())} by {REFERENCE}; "
                 + (f"{len(differ)} clip(s) differ: " + ", ".join(
                     f"{name} {job_frames.get(name)} vs {reference_frames.get(name)}" for name in differ[:5])
                    if differ else "the same count for every clip"))
    return lines


def ray_worker_niceness() -> int:
    """The niceness Ray gives its worker processes (15 by default, `RAY_worker_niceness`), inherited by ffmpeg."""
    import ray

    return ray.get(ray.remote(lambda: os.nice(0)).remote())


def lower_priority(niceness: int) -> None:
    """Pool initializer: the reference's processes run at the job's niceness. On an idle machine niceness changes
    nothing; on a busy one, nice-15 Ray workers against nice-0 pool processes would measure the scheduler."""
    os.nice(max(0, niceness - os.nice(0)))


def _children_cpu() -> float:
    return _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))


def profile_stages(video: Path, scratch: Path, repeats: int = 3) -> dict[str, float]:
    """CPU-seconds per clip of each stage of a shard task on `video`, in this process (no Ray): the probe, the
    decoding ffmpeg, and the task's own Python (JPEG splitting, Parquet writing, markers); the ffmpeg
    CLI's whole run beside them."""
    from sfp_preprocess.clips import SourceClip
    from sfp_preprocess.config import DecodeConfig
    from sfp_preprocess.decode import decode_rows
    from sfp_preprocess.probe import probe_video
    from sfp_preprocess.shard import ShardContext, decode_params, process_shard

    decode = DecodeConfig(fps=FPS, short_side=SHORT_SIDE, jpeg_qscale=QSCALE)
    params = decode_params(decode)
    own, children = _cpu(resource.getrusage(resource.RUSAGE_SELF)), _children_cpu()
    for _ in range(repeats):  # in this process for a local file (ffprobe only for what PyAV cannot read)
        info = probe_video(str(video), timeout_sec=params.timeout_sec, max_memory_mb=params.max_memory_mb)
    probe = (_cpu(resource.getrusage(resource.RUSAGE_SELF)) - own + _children_cpu() - children) / repeats
    start = _children_cpu()
    for _ in range(repeats):
        list(decode_rows(str(video), params, info))
    ffmpeg = (_children_cpu() - start) / repeats
    context = ShardContext(store_uri=str(scratch / "profile-store"), video_root=str(video.parent),
                           video_extensions=[video.suffix], class_ids={}, decode=decode)
    clips = [SourceClip(f"p{index}", None, "train", (str(video),), None, None)
             for index in range(repeats)]  # one file `repeats` times: one probe (as the opener shares it), decodes
    process_shard(context, clips[:1])  # the first shard's imports and first uses are start-up, not the task's
    shutil.rmtree(scratch / "profile-store", ignore_errors=True)
    own, children = _cpu(resource.getrusage(resource.RUSAGE_SELF)), _children_cpu()
    process_shard(context, clips)
    task_python = (_cpu(resource.getrusage(resource.RUSAGE_SELF)) - own) / repeats
    task_total = task_python + (_children_cpu() - children) / repeats
    shutil.rmtree(scratch / "profile-store", ignore_errors=True)
    reference = sum(extract_frames(video, scratch / f"profile-cli-{index}", 1)[0] for index in range(repeats))
    for index in range(repeats):
        shutil.rmtree(scratch / f"profile-cli-{index}", ignore_errors=True)
    return {"probe": probe, "ffmpeg decode": ffmpeg, "task Python": task_python, "task total": task_total,
            "ffmpeg CLI": reference / repeats}


def run(bench: Bench, rounds: int,
        scratch: Path) -> tuple[list[str], list[dict[str, Result]], list[dict[str, Result]]]:
    """Start Ray and warm up on two clips (timed: the start-up), measure `rounds` rounds of the job and the CLI,
    profile one clip's stages; then, with the bench's own Ray shut down (an idle Ray beside it made a fresh
    `sfp preprocess` 28% slower: 42.5 s against 33.3 s), `rounds` rounds of the whole process and the CLI. Returns
    the report's lines and the raw results of both phases."""
    import ray

    started_here = not ray.is_initialized()
    started = time.perf_counter()
    init_ray(num_cpus=bench.cores)  # one shard task per core; joins RAY_ADDRESS or an initialised Ray instead
    ray_start = time.perf_counter() - started
    niceness = ray_worker_niceness()
    with ProcessPoolExecutor(max_workers=bench.cores, initializer=lower_priority, initargs=(niceness,)) as pool:
        warm_names = sorted(bench.videos)[:1] + sorted(bench.videos)[-1:]
        warm_root = scratch / "warm-up"
        for name in warm_names:
            folder = warm_root / bench.videos[name].parent.name
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / bench.videos[name].name
            if not target.exists():
                os.link(bench.videos[name], target)
        warm = Bench(warm_root, {name: warm_root / bench.videos[name].parent.name / bench.videos[name].name
                                 for name in warm_names}, bench.cores, 1, bench.cpus_per_task, bench.ffmpeg_threads)
        warm_results = run_round(warm, pool, scratch, (JOB, REFERENCE))
        results = [run_round(bench, pool, scratch, (JOB, REFERENCE) if number % 2 == 0 else (REFERENCE, JOB))
                   for number in range(rounds)]
        stages = profile_stages(next(path for path in bench.videos.values() if path.parent.name == "fixture")
                                if any(path.parent.name == "fixture" for path in bench.videos.values())
                                else next(iter(bench.videos.values())), scratch)
        whole_rounds = []
        if bench.whole_process:
            if started_here:
                ray.shutdown()
            whole_rounds = [
                run_round(bench, pool, scratch, (COMMAND, REFERENCE) if number % 2 == 0 else (REFERENCE, COMMAND))
                for number in range(rounds)
            ]
    header = (f"{len(bench.videos)} clips ({sum(p.parent.name == 'fixture' for p in bench.videos.values())} x "
              f"{SOURCE_VIDEO.name}, the rest lavfi); {FPS} fps, short side {SHORT_SIDE}, -q:v {QSCALE}; "
              f"{bench.cores} cores: {bench.cores} Ray CPUs ({bench.clips_per_shard} clips per shard, "
              f"{bench.cpus_per_task} CPUs per task) vs "
              f"{bench.cores} pool processes, {bench.ffmpeg_threads} ffmpeg thread(s) each, all at nice {niceness}; "
              f"medians of {rounds} round(s)")
    startup = [
        f"start-up of {JOB} (not in the rounds): Ray {ray_start:.1f} s, first job on {len(warm_names)} clips "
        f"{warm_results[JOB].wall:.1f} s (ffmpeg CLI {warm_results[REFERENCE].wall:.1f} s)",
        "CPU-s per clip by stage (one clip, in this process): " + ", ".join(
            f"{name} {value:.3f}" for name, value in stages.items()),
    ]
    return [header] + report(results, whole_rounds, bench.videos) + startup, results, whole_rounds


# --- AVA: a movie per task, or in parts ---------------------------------------------------------------------------


def make_movies(root: Path, movies: int, seconds: int) -> Path:
    """`movies` lavfi movies under `root/movies` and their movie list (the AVA format's other manifest)."""
    (root / "movies").mkdir(parents=True, exist_ok=True)
    names = [f"movie{index:02d}.mp4" for index in range(movies)]
    for index, name in enumerate(names):
        if not (root / "movies" / name).exists():
            subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                            f"testsrc2=s=1280x720:r=30:d={seconds}", "-vf", f"hue=h={index * 40}", "-c:v", "libx264",
                            "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", str(root / "movies" / name)],
                           check=True)
    (root / "movies.txt").write_text("".join(f"{name}\n" for name in names))
    return root / "movies.txt"


def run_ava_job(movie_list: Path, output: Path, seconds: int,
                segments_per_task: int | None) -> tuple[float, float, int]:
    """Wall seconds and CPU seconds of the AVA job into a fresh store, and its task count."""
    config = validate(PreprocessConfig, {
        "dataset": {"format": "ava", "manifest": str(movie_list), "video_root": str(movie_list.parent / "movies"),
                    "ava": {"keyframe_range": [4, seconds - 4], "margin_sec": 1.5, "segment_sec": 10}},
        "decode": {"fps": FPS, "short_side": SHORT_SIDE, "jpeg_qscale": QSCALE},
        "output": {"uri": str(output), "clips_per_shard": 1, "segments_per_task": segments_per_task},
        "tracking": {"enabled": False}, "error_budget": 0.0,
    }, source="bench_preprocess")
    started = time.perf_counter()
    summary = run_preprocess(config)
    wall = time.perf_counter() - started
    return wall, summary.cpu_seconds, len(FrameStore.open(str(output)).manifest.shards)


def run_ava(movie_list: Path, scratch: Path, *, cores: int, seconds: int, segments_per_task: int,
            rounds: int) -> list[str]:
    init_ray(num_cpus=cores)
    run_ava_job(movie_list, scratch / "warm-up", seconds, segments_per_task)
    walls: dict[int | None, list[float]] = {None: [], segments_per_task: []}
    cpus: dict[int | None, list[float]] = {None: [], segments_per_task: []}
    tasks: dict[int | None, int] = {}
    for number in range(rounds):
        for setting in (None, segments_per_task) if number % 2 == 0 else (segments_per_task, None):
            output = scratch / f"round{number}-{setting}"
            wall, cpu, tasks[setting] = run_ava_job(movie_list, output, seconds, setting)
            walls[setting].append(wall)
            cpus[setting].append(cpu)
            shutil.rmtree(output)
    ratios = [a / b for a, b in zip(walls[None], walls[segments_per_task])]
    lines = [f"{len(movie_list.read_text().split())} movies of {seconds} s (1280x720, 30 fps), {FPS} fps, short side "
             f"{SHORT_SIDE}, 10 s segments; {cores} Ray CPUs; medians of {rounds} round(s), back to back"]
    for setting, name in ((None, "a movie per task"), (segments_per_task, f"{segments_per_task} segments per task")):
        rounded = ", ".join(f"{wall:.1f}" for wall in walls[setting])
        lines.append(f"  {name:<22}: {statistics.median(walls[setting]):6.1f} s wall, "
                     f"{statistics.median(cpus[setting]):6.1f} CPU-s ({tasks[setting]} tasks; rounds {rounded})")
    lines.append(f"  speed-up (median of per-round ratios): {statistics.median(ratios):.2f}x")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=92, help="copies of the fixture clip (10 s, 300 frames each)")
    parser.add_argument("--lavfi", type=int, default=4, help="clips generated from ffmpeg's lavfi test sources")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes of both contenders, after a warm-up")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1,
                        help="Ray CPUs for the job and pool processes for the reference (default: this machine's)")
    parser.add_argument("--clips-per-shard", type=int, default=8,
                        help="output.clips_per_shard (the job's default, 64, gives 2 shards of 48 for 96 clips)")
    parser.add_argument("--cpus-per-task", type=float, default=Bench.cpus_per_task, help="the job's cpus_per_task")
    parser.add_argument("--no-whole-process", action="store_true", help="leave out the `sfp preprocess` process")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the dataset here, reused by the next run (default: a temp dir)")
    parser.add_argument("--ava", type=int, default=0, help="instead: the AVA job over this many movies (below)")
    parser.add_argument("--movie-sec", type=int, default=60, help="--ava: each movie's length")
    parser.add_argument("--segments-per-task", type=int, default=2, help="--ava: the setting measured")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-preprocess-") as temp:
        workdir = args.workdir or Path(temp)
        if args.ava:
            movie_list = make_movies(workdir / "ava", args.ava, args.movie_sec)
            lines = run_ava(movie_list, Path(tempfile.mkdtemp(prefix="scratch-", dir=workdir)), cores=args.cores,
                            seconds=args.movie_sec, segments_per_task=args.segments_per_task, rounds=args.rounds)
            print("\n".join(lines))
            return
        videos = make_dataset(workdir / "dataset", clips=args.clips, lavfi=args.lavfi)
        scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=workdir))
        try:
            bench = Bench(workdir / "dataset", videos, args.cores, args.clips_per_shard, args.cpus_per_task,
                          whole_process=not args.no_whole_process)
            print(f"{len(videos)} clips in {bench.dataset}; warming up, then {args.rounds} round(s) ...", flush=True)
            lines, _, _ = run(bench, args.rounds, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        for line in lines:
            print(line)


if __name__ == "__main__":
    main()

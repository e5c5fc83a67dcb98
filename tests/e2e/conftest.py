"""The local stack as a cluster, shared by `test_cluster_jobs.py` and `test_mlflow_ui_browser.py`.

`local_stack` starts SeaweedFS, a Ray head and MLflow once per session (free ports, a temporary data folder) and,
at the end of the session, stops them and fails if any process of the stack or of its jobs is left. `cluster_run`
submits the two real jobs once: a synthetic dataset in s3://sfp-data is preprocessed into a frame store in S3, then
a tiny SlowFast is trained on it with checkpoints in S3, tracked and registered on the stack's MLflow server.

The tests that use the stack run last in the session (tests/conftest.py orders them), after the shared local Ray
that other modules use (`ray_cluster`) is stopped: two clusters at once confuse Ray's state API.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from sfp_app.localstack.processes import free_port, group_members, pid_alive, processes_with_option, stop_pids, wait_until
from sfp_app.localstack.stack import Stack, StackConfig, client_env, down, up

@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def __str__(self) -> str:  # what an assertion message shows
        return f"exit code {self.code}\n--- stdout ---\n{self.out[-6000:]}\n--- stderr ---\n{self.err[-3000:]}"


def run_sfp_jobs(stack: Stack, *argv: str, env: dict[str, str] | None = None) -> CliResult:
    """`sfp jobs ARGV` in a shell set up by `eval "$(sfp stack env)"` (S3 keys included: they must stay here), with
    `env` on top."""
    from sfp_app.cli import jobs as jobs_cli
    from sfp.errors import SfpError

    parser = argparse.ArgumentParser(prog="sfp")
    jobs_cli.register(parser.add_subparsers(dest="command", required=True))
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for name in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS", "MLFLOW_TRACKING_URI"):
            patch.delenv(name, raising=False)
        for name, value in {**client_env(stack), **(env or {})}.items():
            patch.setenv(name, value)
        args = parser.parse_args(["jobs", *argv])
        try:
            code = args.handler(args)
        except SfpError as error:
            print(f"sfp: error: {error}", file=sys.stderr)
            code = 2
    return CliResult(code, out.getvalue(), err.getvalue())


def stack_processes(stack: Stack, groups: set[int]) -> list[int]:
    """Live processes of the stack: in the process groups it started, or naming or running in its folders (Ray
    workers and job drivers, which Ray starts in sessions of their own)."""
    folders = [str(stack.data_dir)] + ([str(stack.ray.temp_dir)] if stack.ray else [])
    found = {pid for group in groups for pid in group_members(group)}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if any(folder in cmdline or cwd.startswith(folder) for folder in folders):
            found.add(int(entry.name))
    return sorted(pid for pid in found if pid_alive(pid))


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import ray

    ray.shutdown()  # the tests' shared local Ray (`ray_cluster`): one cluster at a time
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("stack"),
        s3_port=free_port(),
        ray_dashboard_port=free_port(),
        mlflow_port=free_port(),
        ray_num_cpus=4,  # > the 1 CPU the trainer takes, so data tasks run beside it; few enough worker processes
        ray_object_store_memory=300 * 2**20,
    )
    stack, _ = up(config)
    groups = {handle.pid for handle in stack.services().values()}
    seen: set[int] = set()
    try:
        yield stack
    finally:
        seen.update(stack_processes(stack, groups))
        stopped = down(config.data_dir)
        left = wait_until(lambda: not stack_processes(stack, groups), timeout=20, interval=0.5)
        leftover = stack_processes(stack, groups) + [pid for pid in seen if pid_alive(pid)]
        stop_pids(sorted(set(leftover)))  # ours: started by this stack or its jobs
        if not stack.ray.temp_dir.is_relative_to(stack.data_dir):  # a short /tmp folder: pytest does not clean it
            shutil.rmtree(stack.ray.temp_dir, ignore_errors=True)
        assert stopped == ["seaweedfs", "ray", "mlflow"], stopped
        assert left and not leftover, f"processes left after `down`: {sorted(set(leftover))}"
        assert processes_with_option(f"{stack.ray.temp_dir}/") == []


@pytest.fixture
def sfp_jobs(local_stack: Stack) -> Callable[..., CliResult]:
    """`sfp_jobs("list", "--json")` runs `sfp jobs list --json` against the stack."""
    return functools.partial(run_sfp_jobs, local_stack)


@dataclass(frozen=True)
class ClusterRun:
    """What the two jobs were asked to do and what `sfp jobs submit` answered."""

    prefix: str  # s3://sfp-data/<prefix>/...
    framestore: str
    checkpoints: str
    preprocess: CliResult | None
    train: CliResult | None
    classes: tuple[str, ...] = ("move_left", "move_right")
    clips_per_class: int = 4  # 3 train + 1 val each
    run_name: str = "jobs-e2e"
    experiment: str = "cluster-jobs"  # not the run name: a page that shows one must not pass for the other
    model_name: str = "slowfast-jobs-e2e"
    alias: str = "kinetics-pretrained"


def upload_folder(stack: Stack, folder: Path, bucket: str, prefix: str) -> None:
    client = stack.seaweedfs.client()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


def train_arguments(run: ClusterRun, tracking_uri: str) -> list[str]:
    """A paper recipe scaled down to seconds: R18 at width 8, 2 slow frames, 64 px, 1 epoch of 3 steps."""
    return [
        "train", "configs/kinetics/slowfast_r50_8x8.yaml",
        f"name={run.run_name}",
        f"data.framestore={run.framestore}",
        "data.train_short_side=[64,64]", "data.crop_size=64", "data.flip=false",
        "data.test_short_side=64", "data.test_crop_size=64", "data.test_temporal_views=1", "data.test_spatial_crops=1",
        "data.loader_batch_size=2",
        "model.depth=18", "model.width=8", "model.slow_frames=2", "model.fusion_kernel_size=5", "model.crop_size=64",
        "optim.epochs=1", "optim.batch_size=2", "optim.warmup_epochs=0",
        "engine.grad_accumulation=1",
        "scaling.num_workers=1", "scaling.cpus_per_worker=1", "scaling.max_failures=0",
        f"checkpoint.storage_uri={run.checkpoints}", "checkpoint.keep=1",
        f"tracking.uri={tracking_uri}", f"tracking.experiment={run.experiment}",
        f"registry.model_name={run.model_name}", f"registry.alias={run.alias}",
        "val_every_n_epochs=1", "log_every_n_steps=1",
    ]  # fmt: skip


@pytest.fixture(scope="session")
def cluster_run(local_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> ClusterRun:
    from sfp_preprocess.synth.render import SynthConfig, render_dataset

    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    plan = ClusterRun(prefix, f"s3://sfp-data/{prefix}/framestore", f"s3://sfp-data/{prefix}/runs", None, None)
    dataset = tmp_path_factory.mktemp("synth")
    synth = SynthConfig(classes=list(plan.classes), clips_per_class=plan.clips_per_class, width=96, height=72,
                        duration_sec=1.0)
    render_dataset(synth, dataset)
    upload_folder(local_stack, dataset, "sfp-data", f"{prefix}/synth")

    preprocess = run_sfp_jobs(
        local_stack, "submit", "--",
        "preprocess", "configs/datasets/kinetics400.yaml",  # the Kinetics recipe, pointed at the synthetic copy
        f"dataset.manifest=s3://sfp-data/{prefix}/synth/annotations.csv",
        f"dataset.video_root=s3://sfp-data/{prefix}/synth/videos",
        "dataset.split_folders=false", "dataset.label_folders=true",
        f"output.uri={plan.framestore}", "output.clips_per_shard=4",
        "decode.short_side=64", "error_budget=0",
    )  # fmt: skip
    train = run_sfp_jobs(local_stack, "submit", "--", *train_arguments(plan, local_stack.mlflow.tracking_uri))
    return dataclasses.replace(plan, preprocess=preprocess, train=train)

"""`sfp jobs submit|logs|stop|list`: run `sfp` commands on a Ray cluster through the Ray Jobs API.

    sfp jobs submit [--address URL] -- train configs/kinetics/slowfast_r50_8x8.yaml optim.epochs=4
    sfp jobs logs raysubmit_XXXX [--follow]
    sfp jobs stop raysubmit_XXXX
    sfp jobs list [--json]

The address is `--address`, else `RAY_API_SERVER_ADDRESS`, else `RAY_ADDRESS` when it is http(s). `submit` packages
this checkout as the job's working directory, prints the submission id, follows the job's output until it ends and
exits 0 when it succeeded, 1 (with the reason in one line) when it did not. Ctrl-C stops following, not the job.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path
from typing import Callable


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "jobs", help="run sfp commands on a Ray cluster (Ray Jobs API)", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")

    def add(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--address", default=None,
            help="Jobs API URL, http://HEAD:8265 (default: RAY_API_SERVER_ADDRESS, else an http(s) RAY_ADDRESS)",
        )  # fmt: skip
        command.set_defaults(handler=handler)
        return command

    submit = add("submit", "run `sfp ARGUMENTS` as a job, follow its output, exit with its status", run_submit)
    submit.add_argument("--working-dir", type=Path, default=None, help="checkout to package (default: this one)")
    submit.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="another setting for the job (credentials are refused)",
    )  # fmt: skip
    submit.add_argument("--no-wait", action="store_true", help="print the submission id and return")
    submit.add_argument("arguments", nargs=argparse.REMAINDER, metavar="-- ARGUMENTS", help="the sfp command line")
    logs = add("logs", "print a job's output", run_logs)
    logs.add_argument("job", help="submission id (raysubmit_...)")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    stop = add("stop", "stop a job", run_stop)
    stop.add_argument("job", help="submission id (raysubmit_...)")
    listing = add("list", "the cluster's jobs, oldest first", run_list)
    listing.add_argument("--json", action="store_true", help="print JSON")


def _ray_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The Jobs API's refusals (an unknown job, a bad request) and a lost connection as one-line `sfp: error:`
    messages (requests' connection errors are `OSError`s)."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from ray.exceptions import RayError

        from sfp.errors import SfpError

        try:
            return handler(args)
        except (RuntimeError, OSError, RayError) as error:
            lines = str(error).strip().splitlines()
            raise SfpError(f"Ray Jobs API: {lines[-1] if lines else repr(error)}") from None

    return run


def _client(args: argparse.Namespace):
    import logging

    import ray.job_submission  # noqa: F401  (sets up Ray's loggers, which the next line quiets)

    from sfp_app.jobs import connect, resolve_address

    logging.getLogger("ray").setLevel(logging.WARNING)  # not a line per file packaged and per websocket closed
    return connect(resolve_address(args.address, os.environ), os.environ)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@_ray_errors
def run_submit(args: argparse.Namespace) -> int:
    from sfp.errors import SfpError
    from sfp_app.jobs import failure_reason, follow_logs, job_spec, project_root, wait_for_end

    arguments = args.arguments[1:] if args.arguments[:1] == ["--"] else args.arguments
    extra_env = {}
    for item in args.env:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise SfpError(f"--env {item!r}: expected NAME=VALUE")
        extra_env[name] = value
    root = project_root(args.working_dir)
    spec = job_spec(arguments, root, os.environ, extra_env)
    client = _client(args)
    submission_id = client.submit_job(entrypoint=spec.entrypoint, runtime_env=spec.runtime_env, metadata=spec.metadata)
    print(f"submitted: {submission_id} (sfp {spec.metadata['sfp.arguments']}) from {root}", flush=True)
    if args.no_wait:
        return 0
    try:
        follow_logs(client, submission_id, _write)
        info = wait_for_end(client, submission_id)
    except KeyboardInterrupt:
        print(f"\nsfp: stopped following; {submission_id} keeps running (sfp jobs stop {submission_id})",
              file=sys.stderr)
        return 130
    if str(info.status) == "SUCCEEDED":
        print(f"job {submission_id} SUCCEEDED")
        return 0
    reason = failure_reason(info, client.get_job_logs(submission_id))
    print(f"sfp: job {submission_id} {info.status}: {reason}", file=sys.stderr)
    return 1


@_ray_errors
def run_logs(args: argparse.Namespace) -> int:
    from sfp_app.jobs import follow_logs

    client = _client(args)
    if args.follow:
        follow_logs(client, args.job, _write)
    else:
        _write(client.get_job_logs(args.job))
    return 0


@_ray_errors
def run_stop(args: argparse.Namespace) -> int:
    client = _client(args)
    if client.stop_job(args.job):
        print(f"stopping {args.job}")
    else:
        print(f"{args.job} had already ended ({client.get_job_status(args.job)})")
    return 0


@_ray_errors
def run_list(args: argparse.Namespace) -> int:
    from sfp_app.cli.common import print_json

    jobs = sorted(
        (job for job in _client(args).list_jobs() if job.submission_id),
        key=lambda job: job.start_time or 0,
    )
    rows = [
        {
            "submission_id": job.submission_id,
            "status": str(job.status),
            "start_time": job.start_time,
            "end_time": job.end_time,
            "command": (job.metadata or {}).get("sfp.arguments", job.entrypoint),
            "message": job.message,
        }
        for job in jobs
    ]
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        start = row["start_time"]
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(start / 1000)) if start else "-"
        print(f"{row['submission_id']:<30} {row['status']:<10} {started:<17} {row['command']}")
    if not rows:
        print("no jobs")
    return 0

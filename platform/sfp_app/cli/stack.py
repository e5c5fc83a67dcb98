"""`sfp stack up|down|status|env`: the local stack (SeaweedFS S3, Ray head, MLflow) on 127.0.0.1.

    sfp stack up                 # or: make up
    eval "$(sfp stack env)"      # RAY_API_SERVER_ADDRESS, RAY_ADDRESS, MLFLOW_TRACKING_URI, AWS_* for this shell
    sfp stack status [--json]    # exit 1 unless every service is healthy
    sfp stack down
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_DATA_DIR = Path(".sfp/stack")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("stack", help="run the local stack: S3 (SeaweedFS), a Ray head, MLflow")
    commands = parser.add_subparsers(dest="stack_command", required=True, metavar="ACTION")

    def add(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="state and data (%(default)s)")
        command.set_defaults(handler=handler)
        return command

    up = add("up", "start the services that are not running (a second `up` changes nothing)", run_up)
    up.add_argument("--s3-port", type=int, default=8333, help="SeaweedFS S3 port (%(default)s)")
    up.add_argument("--ray-dashboard-port", type=int, default=8265, help="Ray dashboard and Jobs API (%(default)s)")
    up.add_argument("--ray-gcs-port", type=int, default=None, help="Ray GCS port (default: a free port)")
    up.add_argument("--ray-num-cpus", type=int, default=None, help="CPUs the Ray head offers (default: all)")
    up.add_argument("--mlflow-port", type=int, default=5000, help="MLflow tracking server (%(default)s)")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for health (%(default)s)")
    add("down", "stop what `up` started and remove the state file", run_down)
    status = add("status", "show each service with its URL; exit 1 unless all are healthy", run_status)
    status.add_argument("--json", action="store_true", help="print JSON")
    add("env", "print `export` lines for the variables a client needs", run_env)


def run_up(args: argparse.Namespace) -> int:
    from sfp.config import validate
    from sfp_app.localstack.stack import StackConfig, format_exports, client_env, up

    options = dict(data_dir=args.data_dir, s3_port=args.s3_port, ray_dashboard_port=args.ray_dashboard_port,
                   ray_gcs_port=args.ray_gcs_port, ray_num_cpus=args.ray_num_cpus, mlflow_port=args.mlflow_port,
                   startup_timeout_s=args.timeout)
    config = validate(StackConfig, {key: value for key, value in options.items() if value is not None},
                      source="sfp stack up")
    stack, started = up(config)
    print(f"started: {', '.join(started)}" if started else "already running: nothing started")
    print(f"state: {stack.data_dir / 'stack.json'}")
    print('client environment (eval "$(sfp stack env)"):')
    print(format_exports(client_env(stack)))
    return 0


def run_down(args: argparse.Namespace) -> int:
    from sfp_app.localstack.stack import down

    stopped = down(args.data_dir)
    print(f"stopped: {', '.join(stopped)}" if stopped else f"nothing running recorded in {args.data_dir}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from sfp_app.localstack.stack import status

    statuses = status(args.data_dir)
    healthy = all(service.healthy for service in statuses)
    if args.json:
        print(json.dumps({"healthy": healthy, "services": [service.to_dict() for service in statuses]}, indent=2))
    else:
        for service in statuses:
            state = "healthy" if service.healthy else "unhealthy" if service.running else "not running"
            print(f"{service.name:<10} {service.url or '-':<26} pid {service.pid or '-':<8} {state}")
    return 0 if healthy else 1


def run_env(args: argparse.Namespace) -> int:
    from sfp.errors import SfpError
    from sfp_app.localstack.stack import client_env, format_exports, read_stack

    stack = read_stack(args.data_dir)
    if stack is None:
        raise SfpError(f"no stack recorded in {args.data_dir}; run `sfp stack up` first")
    print(format_exports(client_env(stack)))
    return 0

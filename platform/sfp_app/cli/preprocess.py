"""`sfp preprocess`: turn a video dataset into a frame store with a Ray Data job."""

from __future__ import annotations

import argparse
import os

from sfp_app.cli.common import add_overrides, add_ray_address
from sfp.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preprocess",
        help="decode a video dataset into a Parquet frame store (Ray Data job)",
        description="Decode a dataset described by a YAML file (configs/datasets/*.yaml) or by flags.",
    )
    parser.add_argument("dataset", nargs="?", help="dataset YAML (dataset:, decode:, output:, tracking: sections)")
    parser.add_argument("--config", dest="config_path", help="the dataset YAML, as a flag (same as the positional)")
    parser.add_argument("--format", choices=["kinetics", "csv", "folder", "ava"], help="dataset.format")
    parser.add_argument("--manifest", help="dataset.manifest: the dataset CSV (local path or s3://)")
    parser.add_argument("--video-root", help="dataset.video_root: folder the video paths are relative to")
    parser.add_argument("--output", help="output.uri: where the frame store goes (local path or s3://)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the frame store at the output (another dataset's, or this one's) with a new one")
    parser.add_argument("--append", action="store_true",
                        help="output.append: add the manifest's clips that the store lacks, as its next version")
    add_ray_address(parser)
    add_overrides(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sfp.config import load_config
    from sfp.raycluster import init_ray
    from sfp_preprocess.config import PreprocessConfig
    from sfp_preprocess.job import ErrorBudgetExceeded, run_preprocess

    flags = {
        "dataset.format": args.format,
        "dataset.manifest": args.manifest,
        "dataset.video_root": args.video_root,
        "output.uri": args.output,
        "output.append": "true" if args.append else None,
    }
    overrides = list(args.overrides)
    path = args.dataset
    if args.dataset and "=" in args.dataset and not args.dataset.endswith((".yaml", ".yml")):
        path, overrides = None, [args.dataset, *overrides]  # `--config x.yaml a.b=1`: the first override
    if path and args.config_path:
        raise ConfigError("give the dataset YAML once: positionally or with --config")
    path = path or args.config_path
    overrides = [f"{key}={value}" for key, value in flags.items() if value is not None] + overrides
    if path is None and args.manifest is None and args.video_root is None:
        raise ConfigError("give a dataset YAML, or --manifest (or --video-root for --format folder) and --output")
    config = load_config(PreprocessConfig, path, overrides)
    if args.overwrite:
        _overwrite(config)
    # a local Ray of one logical CPU per core: every task is CPU-bound ffmpeg, and training's extra logical CPUs
    # would only start more workers and decoders than cores (0.57x the clips/s on 2 cores, `make bench-preprocess`)
    init_ray(args.ray_address, num_cpus=os.cpu_count() or 1)
    try:
        summary = run_preprocess(config)
    except ErrorBudgetExceeded as error:  # the store is written: its summary and error table first, then the error
        print("\n".join(error.summary.lines()))
        raise
    print("\n".join(summary.lines()))
    return 0


def _overwrite(config) -> None:
    from sfp_app.cli.overwrite import check_source_exists, clear_store

    if getattr(config.output, "append", False):
        raise ConfigError("--overwrite replaces the store, --append adds to it: give one of them")
    check_source_exists(config.dataset.manifest, config.dataset.root)
    removed = clear_store(config.output.uri)
    if removed:
        print(f"--overwrite: removed the frame store at {config.output.uri} ({removed} files)")
    if config.tracking.enabled:  # the new store's job is a run of its own, not a resume of the old store's
        from sfp import tracking

        tracking.retire_runs(config.tracking, {"sfp.stage": "preprocess", "sfp.framestore.uri": config.output.uri},
                             reason="sfp preprocess --overwrite replaced its frame store")

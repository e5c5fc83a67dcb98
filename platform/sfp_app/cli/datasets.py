"""`sfp datasets ...`: make datasets to train on.

    sfp datasets synth --out DIR [--config YAML] [key=value ...] [--force]
    sfp datasets synth-ava --out DIR [--config YAML] [key=value ...] [--force]

renders the synthetic motion dataset (classes that differ only in how one object moves) in the Kinetics layout:
`DIR/annotations.csv` and `DIR/videos/<label>/<youtube_id>_<start>_<end>.mp4`. The YAML and the overrides set
fields of `sfp_preprocess.synth.SynthConfig`, e.g. `clips_per_class=8 width=128 height=96`.

`synth-ava` renders short AVA-format movies of "people" whose actions are how they move (`DIR/videos/<id>.mp4`,
`DIR/annotations/{train,val}.csv`, `{train,val}_predicted_boxes.csv`, `labelmap.pbtxt`, `movies.txt`), preprocessable
with the `ava` dataset format (`dataset.ava.keyframe_range` = the config's); fields of
`sfp_preprocess.synth.ava.SynthAvaConfig`, e.g. `train_movies=4 keyframe_range=[2,9]`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sfp.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("datasets", help="make datasets to train on", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="datasets_command", required=True, metavar="COMMAND")
    synth = commands.add_parser(
        "synth",
        help="render the synthetic motion dataset in the Kinetics layout",
        description="Render labelled clips whose class is in the motion only, as "
        "OUT/annotations.csv (label,youtube_id,time_start,time_end,split) and OUT/videos/<label>/*.mp4. "
        "Rerunning with the same config does nothing.",
    )
    synth.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    synth.add_argument("--config", type=Path, help="YAML file of SynthConfig fields")
    synth.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. clips_per_class=8 seed=1")
    synth.add_argument("--force", action="store_true", help="render again even if OUT holds a dataset")
    synth.set_defaults(handler=synth_dataset)
    ava = commands.add_parser(
        "synth-ava",
        help="render a synthetic AVA-format dataset (movies, ground truth, person boxes, label map)",
        description="Render short movies of people whose actions are how they move, with AVA CSVs under "
        "OUT/annotations/ (preprocess them with dataset.format=ava, manifest OUT/annotations/movies.txt). "
        "Rerunning with the same config does nothing.",
    )
    ava.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    ava.add_argument("--config", type=Path, help="YAML file of SynthAvaConfig fields")
    ava.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. train_movies=4 people=2")
    ava.add_argument("--force", action="store_true", help="render again even if OUT holds this dataset")
    ava.set_defaults(handler=synth_ava_dataset)


def synth_dataset(args: argparse.Namespace) -> int:
    from sfp_preprocess.synth import SynthConfig, is_complete, render_dataset

    config = load_config(SynthConfig, args.config, args.overrides)
    total = len(config.classes) * config.clips_per_class
    if not args.force and is_complete(config, args.out):
        print(f"{args.out}: already holds these {total} clips; nothing to do (--force renders them again)")
        return 0
    started = time.monotonic()
    csv_path = render_dataset(config, args.out, force=args.force)
    val = len(config.classes) * config.val_clips_per_class
    print(
        f"wrote {total} clips of {len(config.classes)} classes ({total - val} train, {val} val) "
        f"in {time.monotonic() - started:.1f} s: {csv_path}"
    )
    return 0


def synth_ava_dataset(args: argparse.Namespace) -> int:
    from sfp_preprocess.synth.ava import SynthAvaConfig, is_complete, render_ava_dataset

    config = load_config(SynthAvaConfig, args.config, args.overrides)
    if not args.force and is_complete(config, args.out):
        print(f"{args.out}: already holds this dataset; nothing to do (--force renders it again)")
        return 0
    started = time.monotonic()
    annotations = render_ava_dataset(config, args.out, force=args.force)
    movies = config.train_movies + config.val_movies
    print(f"wrote {movies} movies of {config.duration_sec} s ({config.train_movies} train, {config.val_movies} val), "
          f"keyframes {config.keyframe_range[0]}..{config.keyframe_range[1]} s, in "
          f"{time.monotonic() - started:.1f} s: {annotations}")
    print(f"preprocess: sfp preprocess --format ava --manifest {annotations / 'movies.txt'} "
          f"--video-root {Path(args.out) / 'videos'} --output FRAMESTORE "
          f"dataset.ava.keyframe_range=[{config.keyframe_range[0]},{config.keyframe_range[1]}]")
    return 0

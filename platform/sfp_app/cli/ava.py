"""`sfp ava-eval`: the official AVA frame-level mAP@0.5 IoU of a detections CSV against ground truth."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ava-eval",
        help="AVA frame-level mAP@0.5 IoU of a detections CSV (the official ActivityNet evaluation)",
        description=(
            "Compute AVA frame-level mAP@0.5 IoU as ActivityNet's get_ava_performance.py does: top 50 detections "
            "per keyframe, excluded keyframes dropped, VOC AP per class of the label map."
        ),
    )
    parser.add_argument("--groundtruth", required=True, type=Path, metavar="GT.csv", help="ground-truth CSV")
    parser.add_argument(
        "--detections",
        required=True,
        type=Path,
        metavar="DET.csv",
        help="detections CSV: video_id,keyframe_sec,x1,y1,x2,y2,action_id,score",
    )
    parser.add_argument("--labelmap", required=True, type=Path, metavar="MAP.pbtxt", help="classes to evaluate")
    parser.add_argument("--exclusions", type=Path, metavar="EX.csv", help="excluded keyframes: video_id,keyframe_sec")
    parser.add_argument("--json", action="store_true", help="print {\"mAP\": ..., \"per_class\": {...}} as JSON")
    parser.set_defaults(handler=run_ava_eval)


def run_ava_eval(args: argparse.Namespace) -> int:
    from sfp_train.ava.evaluation import evaluate_files

    result = evaluate_files(args.groundtruth, args.detections, args.labelmap, args.exclusions)
    for line in warnings(result, args):
        print(f"sfp: warning: {line}", file=sys.stderr)
    if args.json:
        per_class = {name: _json_number(value) for name, value in result.per_class.items()}
        print(json.dumps({"mAP": _json_number(result.mAP), "per_class": per_class}, indent=2))
        return 0
    width = max([len("class"), *(len(name) for name in result.per_class)])
    print(f"{'class':<{width}}  AP@0.5")
    for name, value in result.per_class.items():
        print(f"{name:<{width}}  {_text_number(value)}")
    print(f"{'mAP':<{width}}  {_text_number(result.mAP)}")
    return 0


def warnings(result, args: argparse.Namespace) -> list[str]:
    """What makes an mAP meaningless although the official evaluation would print it (and exit 0, as it would)."""
    if result.detections == 0:
        return [f"no detections: the file is empty, every class with ground truth scores AP 0 ({args.detections})"]
    if result.detections_in_labelmap == 0:
        return [f"none of the {result.detections} detections is of a class of the label map {args.labelmap}: every "
                f"class with ground truth scores AP 0 ({args.detections})"]
    if math.isnan(result.mAP):
        return [f"no ground-truth box of a class of the label map {args.labelmap}: no AP to compute "
                f"({args.groundtruth})"]
    return []


def _json_number(value: float) -> float | None:
    """NaN (a class without ground truth) becomes JSON null."""
    return None if math.isnan(value) else value


def _text_number(value: float) -> str:
    return "n/a (no ground truth)" if math.isnan(value) else f"{value:.4f}"

"""`sfp predict MODEL VIDEO`: run a registered model on a new video.

A classifier (Kinetics) gives the top-k labels of each consecutive window of the video; a detector (AVA) gives, for
person boxes at keyframes (`--boxes`, AVA's person-box CSV: `video_id, keyframe_sec, x1, y1, x2, y2[, action], score`),
a score per action, written as AVA detections (`video_id, keyframe, x1, y1, x2, y2, action_id, score`, what
`sfp ava-eval` reads). The video is decoded as preprocessing decodes it (ffmpeg, constant frame rate, sandboxed).
"""

from __future__ import annotations

import argparse
import csv
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predict", help="run a registered model on a video (labels, or AVA detections)",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("model", help="models:/name@alias, models:/name/version or runs:/... (MLflow)")
    parser.add_argument("video", help="a local video file")
    parser.add_argument("--boxes", help="detectors: person boxes CSV (AVA format) at the keyframes to score")
    parser.add_argument("--box-score", type=float, default=0.8, help="detectors: keep boxes with score >= this")
    parser.add_argument("-o", "--output", help="CSV to write (default: standard output)")
    parser.add_argument("--top-k", type=int, default=5, help="classifiers: labels per window")
    parser.add_argument("--fps", type=float, default=30.0, help="decoding frame rate (the frame stores')")
    parser.add_argument("--tracking-dir", default=None, help="local MLflow store (default: MLFLOW_TRACKING_URI, "
                        "else $SFP_HOME/mlflow, SFP_HOME defaulting to ~/.sfp)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sfp import tracking
    from sfp_app.cli.common import load_model
    from sfp.errors import ConfigError, StorageError
    from sfp_preprocess.decode import DecodeError, DecodeParams
    from sfp_preprocess.probe import probe_video
    from sfp_train.predict import classify_video, decoded_frames, detect_actions
    from sfp_train.serving import ClipClassifier, ClipDetector

    if not Path(args.video).is_file():
        raise ConfigError(f"{args.video}: no such video file")
    if args.output and not Path(args.output).absolute().parent.is_dir():
        raise StorageError(f"no such folder for the output ({Path(args.output).absolute().parent})")
    limits = DecodeParams()
    try:  # before the model is loaded: a file that is no video fails in a second, with one line
        info = probe_video(args.video, timeout_sec=limits.timeout_sec, max_memory_mb=limits.max_memory_mb)
    except DecodeError as error:
        raise ConfigError(f"not a video ffmpeg can read: {_reason(error)} ({args.video})") from None
    config = tracking.TrackingConfig(**({"local_dir": args.tracking_dir} if args.tracking_dir else {}))
    model = load_model(args.model, tracking.configure_existing(config))
    if isinstance(model, ClipDetector):
        from sfp_train.ava.annotations import read_person_boxes, write_detections

        if not args.boxes:
            raise ConfigError(f"{args.model} is an action detector: give the person boxes with --boxes BOXES.csv")
        boxes = read_person_boxes(args.boxes, score_threshold=args.box_score)
        keyframes = [box.keyframe_sec for box in boxes]
        if not keyframes:
            raise ConfigError(f"{args.boxes}: no box with score >= {args.box_score}")
        margin = model.clip_frames * model.sampling_rate / args.fps
        start = max(0.0, min(keyframes) - margin)
        clip = _decode(args.video, DecodeParams(fps=args.fps, short_side=model.short_side), info, start,
                       max(keyframes) + margin)
        detections = detect_actions(model, decoded_frames(clip.frames), args.fps, clip.start_sec, boxes)
        write_detections(args.output or "/dev/stdout", detections)
        if args.output:
            print(f"{len(detections)} detections ({len(set(keyframes))} keyframes, {len(boxes)} boxes) -> {args.output}")
        return 0
    if not isinstance(model, ClipClassifier):
        raise ConfigError(f"{args.model}: not a SlowFast platform model ({type(model).__name__})")
    clip = _decode(args.video, DecodeParams(fps=args.fps, short_side=model.crop_size), info)
    windows = classify_video(model, decoded_frames(clip.frames), args.fps, clip.start_sec, top_k=args.top_k)
    output = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        writer = csv.writer(output, lineterminator="\n")
        writer.writerow(["start_sec", "end_sec", "rank", "label", "probability"])
        for start, end, top in windows:
            for rank, (label, probability) in enumerate(top, start=1):
                writer.writerow([f"{start:.3f}", f"{end:.3f}", rank, label, f"{probability:.6f}"])
    finally:
        if args.output:
            output.close()
    return 0


def _decode(video: str, params, info, start_sec: float | None = None, end_sec: float | None = None):
    """`decode_clip` of the probed video, or one line saying why it cannot be decoded."""
    from sfp.errors import ConfigError
    from sfp_preprocess.decode import DecodeError, decode_clip

    try:
        return decode_clip(video, params, start_sec, end_sec, info=info)
    except DecodeError as error:
        raise ConfigError(f"cannot decode the video: {_reason(error)} ({video})") from None


def _reason(error) -> str:
    """ffmpeg's reason without the `file:<path>: ` it starts with (the message names the file once)."""
    return error.reason.split(": ", 1)[-1] if error.reason.startswith("file:") else error.reason

"""Prediction on a new video (what `sfp predict` runs): the preprocessing decoder's frames, then top-k labels per
window for a classifier, or AVA detections at person boxes for a detector."""

from pathlib import Path

import numpy as np
import pytest
import torch

from sfp_train.models.config import ModelConfig, build_model
from sfp_train.predict import classify_video, decoded_frames, detect_actions
from sfp_train.serving import ClipClassifier, ClipDetector

TINY = dict(arch="slowfast", depth=18, width=8, slow_frames=4, alpha=4, fusion_kernel_size=5, crop_size=64)


@pytest.fixture(scope="module")
def movie(tmp_path_factory) -> tuple[Path, object]:
    from sfp_preprocess.synth.ava import SynthAvaConfig, plan_movies, render_ava_dataset

    config = SynthAvaConfig(train_movies=1, val_movies=1, keyframe_range=(2, 3), people=2, width=96, height=72)
    root = tmp_path_factory.mktemp("movie")
    annotations = render_ava_dataset(config, root)
    return root / plan_movies(config)[1].path, annotations


def decode(path: Path, short_side: int, start=None, end=None):
    from sfp_preprocess.decode import DecodeParams, decode_clip

    clip = decode_clip(str(path), DecodeParams(fps=30, short_side=short_side), start, end)
    return decoded_frames(clip.frames), clip.start_sec


def test_classifier_gives_top_k_of_each_consecutive_window(movie):
    torch.manual_seed(0)
    classes = [f"c{i}" for i in range(6)]
    classifier = ClipClassifier(build_model(ModelConfig(**TINY), 6), arch="slowfast", alpha=4, classes=classes,
                                clip_frames=16, sampling_rate=2, crop_size=64, mean=(0.45,) * 3, std=(0.225,) * 3)
    frames, start = decode(movie[0], 64)
    assert frames.shape[0] == 30 * 5 and min(frames.shape[1:3]) == 64  # the 4.5 s movie rounds up to 5 s
    windows = classify_video(classifier, frames, 30.0, start, top_k=5)
    bounds = [value for start_sec, end_sec, _ in windows for value in (start_sec, end_sec)]
    assert bounds == pytest.approx([0.0, 32 / 30, 32 / 30, 64 / 30, 64 / 30, 96 / 30, 96 / 30, 128 / 30])
    for _, _, top in windows:
        probabilities = [p for _, p in top]
        assert len(top) == 5 and probabilities == sorted(probabilities, reverse=True)
        assert {label for label, _ in top} <= set(classes)


def test_detector_scores_every_action_of_every_box_at_its_keyframe(movie):
    from sfp_train.ava.annotations import read_person_boxes

    path, annotations = movie
    video_id = path.stem
    boxes = [box for box in read_person_boxes(annotations / "val_predicted_boxes.csv") if box.video_id == video_id]
    torch.manual_seed(0)
    detector = ClipDetector(build_model(ModelConfig(**TINY, task="detection"), 3), arch="slowfast", alpha=4,
                            action_ids=[1, 2, 3], actions=["a", "b", "c"], clip_frames=16, sampling_rate=2,
                            short_side=64, max_aspect=1.34, mean=(0.45,) * 3, std=(0.225,) * 3)
    frames, start = decode(path, 64, 0.5, 4.5)
    detections = detect_actions(detector, frames, 30.0, start, boxes)
    assert len(detections) == 3 * len(boxes) == 3 * 2 * 2
    assert [d.action_id for d in detections[:3]] == [1, 2, 3]
    assert {d.keyframe_sec for d in detections} == {2, 3} and all(0 < d.score < 1 for d in detections)
    assert {d.box for d in detections} == {b.box for b in boxes}

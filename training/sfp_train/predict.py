"""Inference with a registered (or checkpointed) model: on stored clips, on the frames of a new video (top-k labels per
window for a classifier, AVA detections at given person boxes for a detector)."""

from __future__ import annotations

import numpy as np
import torch

from sfp.framestore import ClipRecord, FrameStore
from sfp_train.data.sampling import view_frame_indices
from sfp_train.data.transforms import eval_transform
from sfp_train.serving import ClipClassifier


@torch.no_grad()
def classify_clip(classifier: ClipClassifier, store: FrameStore, record: ClipRecord, top_k: int = 5) -> list[tuple[str, float]]:
    """Top-k (label, probability) for the centre window and centre crop of one stored clip."""
    indices = view_frame_indices(record.num_frames, classifier.clip_frames, classifier.sampling_rate, 0, 1)
    frames = store.read_frames(record, indices, max_short_side=classifier.crop_size)
    clip = eval_transform(
        frames,
        short_side=classifier.crop_size,
        crop_size=classifier.crop_size,
        crop_index=0,
        num_crops=1,
        mean=classifier.mean,
        std=classifier.std,
    )
    classifier.eval()
    probabilities = classifier(clip.unsqueeze(0))[0]
    values, positions = probabilities.topk(min(top_k, len(classifier.classes)))
    return [(classifier.classes[int(i)], float(v)) for v, i in zip(values, positions)]


def decoded_frames(jpegs: list[bytes]) -> np.ndarray:
    from sfp.framestore import decode_jpeg

    return np.stack([decode_jpeg(data) for data in jpegs])


@torch.no_grad()
def classify_video(classifier: ClipClassifier, frames: np.ndarray, fps: float, start_sec: float = 0.0,
                   top_k: int = 5) -> list[tuple[float, float, list[tuple[str, float]]]]:
    """Top-k labels of each consecutive window (`clip_frames` frames at `sampling_rate`) of decoded frames
    `[N, H, W, 3]`: `(start_sec, end_sec, [(label, probability), ...])` per window; a video shorter than one
    window is one window (its last frame repeated)."""
    span = classifier.clip_frames * classifier.sampling_rate
    classifier.eval()
    results = []
    for first in range(0, max(len(frames) - span, 0) + 1, span):
        indices = np.minimum(np.arange(first, first + span, classifier.sampling_rate), len(frames) - 1)
        clip = eval_transform(frames[indices], short_side=classifier.crop_size, crop_size=classifier.crop_size,
                              crop_index=0, num_crops=1, mean=classifier.mean, std=classifier.std)
        probabilities = classifier(clip.unsqueeze(0))[0]
        values, positions = probabilities.topk(min(top_k, len(classifier.classes)))
        top = [(classifier.classes[int(i)], float(v)) for v, i in zip(values, positions)]
        results.append((start_sec + first / fps, start_sec + min(first + span, len(frames)) / fps, top))
    return results


@torch.no_grad()
def detect_actions(detector, frames: np.ndarray, fps: float, start_sec: float, boxes: list) -> list:
    """AVA detections (`sfp_train.ava.annotations.Detection`, one per box and action) for person boxes
    (`Detection`s without action: video id, keyframe, normalised box, score) on decoded frames `[N, H, W, 3]`
    whose first frame is at `start_sec`; each keyframe's window is centred on it, as in training."""
    from sfp.framestore import window_times
    from sfp_train.ava.annotations import Detection
    from sfp_train.ava.transforms import eval_transform_with_boxes

    detector.eval()
    by_keyframe: dict[tuple[str, int], list] = {}
    for box in boxes:
        by_keyframe.setdefault((box.video_id, box.keyframe_sec), []).append(box)
    detections = []
    for (video_id, keyframe), people in sorted(by_keyframe.items()):
        times = window_times(keyframe, detector.clip_frames, detector.sampling_rate, fps)
        indices = np.clip(np.round((np.array(times) - start_sec) * fps).astype(int), 0, len(frames) - 1)
        clip, pixel_boxes = eval_transform_with_boxes(
            frames[indices], np.array([person.box for person in people], np.float32), short_side=detector.short_side,
            max_aspect=detector.max_aspect, mean=detector.mean, std=detector.std)
        rois = torch.cat([torch.zeros(len(people), 1), torch.from_numpy(pixel_boxes)], dim=1)
        scores = detector(clip.unsqueeze(0), rois).numpy()
        for person, row in zip(people, scores):
            detections.extend(Detection(video_id, keyframe, person.box, float(score), action_id)
                              for action_id, score in zip(detector.action_ids, row))
    return detections

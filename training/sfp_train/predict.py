"""Inference with a registered (or checkpointed) classifier on stored clips."""

from __future__ import annotations

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

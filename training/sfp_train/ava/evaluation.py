"""Frame-level mAP@0.5 IoU of AVA action detection, reproducing ActivityNet's official evaluation.

The reference is `ActivityNet/Evaluation/get_ava_performance.py`, which feeds the TF object-detection code
(`object_detection_evaluation.PascalDetectionEvaluator`, `per_image_evaluation`, `metrics`, `np_box_ops`).
Each function below names the part it reproduces; together they give the same numbers, tie-breaking included:

1. `read_csv`: rows of classes outside the label map are dropped; each keyframe keeps its top 50 (box, action)
   detections by score (a heap per keyframe; a score equal to the 50th does not enter), sorted by score.
2. Excluded keyframes are dropped from ground truth and detections. Detections on a keyframe with no ground truth
   are all false positives (the reference compares them with an empty ground truth); pass
   `ignore_keyframes_without_groundtruth=True` to drop them instead, as the reference does since 2020: it evaluates
   only the keyframes its ground truth names, with boxes (of any class) or on rows of their own
   (`video_id, keyframe_sec`: a keyframe without boxes, whose detections are all false positives). `evaluate_files`
   does so when the ground truth has such rows (that format is the 2020 reference's; without them, it is the
   2018-2019 reference's, which takes an exclusions file).
3. Detections with `y2 <= y1` or `x2 <= x1` are dropped (`_remove_invalid_boxes`).
4. Per keyframe and class, in score order: a detection takes the ground-truth box of highest IoU (the first one on
   a tie); it is a true positive if that IoU is >= 0.5 and the box is not taken yet, otherwise a false positive,
   even when another free box also overlaps enough.
5. Per class: precision/recall over all its detections in `np.argsort(scores)[::-1]` order, and VOC AP, the area
   under the monotone precision envelope. A class with ground truth and no detection scores 0; a class without
   ground truth is NaN and left out of the mean. mAP is the NaN-mean over classes.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable, Sequence

import numpy as np

from sfp.errors import SfpError
from sfp_train.ava.annotations import (
    AvaRow,
    Box,
    Detection,
    KeyframeKey,
    read_detections,
    read_exclusions,
    read_groundtruth,
)
from sfp_train.ava.labelmap import LabelEntry, read_labelmap

_Entry = tuple[float, int, float, float, float, float]
"""`(score, action_id, y1, x1, y2, x2)`, the tuple the reference keeps in its per-keyframe heap."""


@dataclass(frozen=True)
class AvaEvaluation:
    """Result of the evaluation; APs are NaN for classes with no ground truth.

    `per_class` is keyed by class name (for a name used twice, the higher id wins, as in the reference's metric
    names); `per_class_id` by class id. Both are in ascending id order. `detections` counts the detections given,
    `detections_in_labelmap` those of a class of the label map (the only ones the reference reads).
    """

    mAP: float
    per_class: dict[str, float]
    per_class_id: dict[int, float]
    detections: int = 0
    detections_in_labelmap: int = 0


def evaluate_files(
    groundtruth: str | Path,
    detections: str | Path,
    labelmap: str | Path,
    exclusions: str | Path | None = None,
) -> AvaEvaluation:
    """Evaluate CSV files as `get_ava_performance.py -g GT -d DET -l MAP [-e EXCL]` does.

    A ground truth that lists keyframes without boxes (`video_id, keyframe_sec` rows) is evaluated as the 2020
    reference does: on the keyframes it names, detections elsewhere ignored.
    """
    rows, listed = read_groundtruth(groundtruth)
    return evaluate_detections(
        rows,
        read_detections(detections),
        read_labelmap(labelmap),
        excluded=read_exclusions(exclusions) if exclusions is not None else frozenset(),
        listed_keyframes=listed,
        ignore_keyframes_without_groundtruth=bool(listed),
    )


def evaluate_detections(
    groundtruth: Iterable[AvaRow],
    detections: Iterable[Detection],
    labelmap: Sequence[LabelEntry],
    *,
    excluded: Collection[KeyframeKey] = frozenset(),
    iou_threshold: float = 0.5,
    max_detections_per_keyframe: int = 50,
    ignore_keyframes_without_groundtruth: bool = False,
    listed_keyframes: Collection[KeyframeKey] = frozenset(),
) -> AvaEvaluation:
    """Frame-level AP per class and mAP (`run_evaluation` + `ObjectDetectionEvaluation.evaluate`).

    Inputs are in file order, which decides ties exactly as in the reference. Detections need an `action_id`.
    `listed_keyframes` are keyframes the ground truth names without boxes: they count as keyframes with ground truth
    (none of their detections is ignored).
    """
    class_ids = {entry.id for entry in labelmap}
    excluded = set(excluded)
    groundtruth, detections = list(groundtruth), list(detections)
    named = {(row.video_id, row.keyframe_sec) for row in groundtruth} | set(listed_keyframes)
    if not class_ids or min(class_ids) < 1:
        raise SfpError("label map must list classes with ids >= 1 (the official evaluation is 1-indexed)")
    gt_entries = _keyframe_entries(
        (((row.video_id, row.keyframe_sec), _groundtruth_score(row), row.action_id, row.box) for row in groundtruth),
        class_ids,
        capacity=0,
    )
    gt_entries = {key: entries for key, entries in gt_entries.items() if key not in excluded}
    num_groundtruth = Counter(entry[1] for entries in gt_entries.values() for entry in entries)
    detection_entries = _keyframe_entries(
        (((det.video_id, det.keyframe_sec), det.score, _action_of(det), det.box) for det in detections),
        class_ids,
        capacity=max_detections_per_keyframe,
    )

    scores: dict[int, list[np.ndarray]] = defaultdict(list)
    true_positives: dict[int, list[np.ndarray]] = defaultdict(list)
    for key, entries in detection_entries.items():
        if key in excluded or (ignore_keyframes_without_groundtruth and key not in named):
            continue
        det_boxes, det_labels, det_scores = _as_arrays(entries)
        valid = (det_boxes[:, 0] < det_boxes[:, 2]) & (det_boxes[:, 1] < det_boxes[:, 3])
        det_boxes, det_labels, det_scores = det_boxes[valid], det_labels[valid], det_scores[valid]
        gt_boxes, gt_labels, _ = _as_arrays(gt_entries.get(key, []))
        for class_id in np.unique(det_labels):
            in_class = det_labels == class_id
            labels = label_true_positives(det_boxes[in_class], gt_boxes[gt_labels == class_id], iou_threshold)
            scores[int(class_id)].append(det_scores[in_class])
            true_positives[int(class_id)].append(labels)

    average_precisions = np.full(max(class_ids), np.nan)
    for class_id, count in num_groundtruth.items():
        class_scores = np.concatenate(scores[class_id]) if scores[class_id] else np.zeros(0)
        class_tp = np.concatenate(true_positives[class_id]) if true_positives[class_id] else np.zeros(0, bool)
        precision, recall = precision_recall(class_scores, class_tp, count)
        average_precisions[class_id - 1] = voc_average_precision(precision, recall)
    in_labelmap = sum(1 for detection in detections if detection.action_id in class_ids)
    return _summarise(average_precisions, labelmap, len(detections), in_labelmap)


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Pairwise IoU of `[N, 4]` and `[M, 4]` boxes `(y1, x1, y2, x2)`, with areas without +1 (`np_box_ops.iou`).

    The operations are in the reference's order, so IoUs at the 0.5 boundary round the same way.
    """
    y_min1, x_min1, y_max1, x_max1 = np.split(boxes1, 4, axis=1)
    y_min2, x_min2, y_max2, x_max2 = np.split(boxes2, 4, axis=1)
    heights = np.maximum(0.0, np.minimum(y_max1, y_max2.T) - np.maximum(y_min1, y_min2.T))
    widths = np.maximum(0.0, np.minimum(x_max1, x_max2.T) - np.maximum(x_min1, x_min2.T))
    intersection = heights * widths
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero-area box gives NaN, never a match, as there
        return intersection / (area1[:, None] + area2[None, :] - intersection)


def label_true_positives(det_boxes: np.ndarray, gt_boxes: np.ndarray, iou_threshold: float = 0.5) -> np.ndarray:
    """True/false positive flags of one class's detections in one keyframe, given in descending score order.

    Reproduces `PerImageEvaluation._compute_tp_fp_for_single_class` (no difficult or group-of boxes in AVA).
    """
    is_true_positive = np.zeros(len(det_boxes), dtype=bool)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return is_true_positive
    iou = box_iou(det_boxes, gt_boxes)
    best_gt = np.argmax(iou, axis=1)
    is_taken = np.zeros(len(gt_boxes), dtype=bool)
    for index, gt_index in enumerate(best_gt):
        if iou[index, gt_index] >= iou_threshold and not is_taken[gt_index]:
            is_true_positive[index] = True
            is_taken[gt_index] = True
    return is_true_positive


def precision_recall(
    scores: np.ndarray, is_true_positive: np.ndarray, num_groundtruth: int
) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each detection, best score first (`metrics.compute_precision_recall`).

    The order is `np.argsort(scores)[::-1]`, the reference's, so tied scores rank the same way.
    """
    order = np.argsort(scores)[::-1]
    hits = is_true_positive.astype(int)[order]
    cumulative_tp = np.cumsum(hits)
    cumulative_fp = np.cumsum(1 - hits)
    precision = cumulative_tp.astype(float) / (cumulative_tp + cumulative_fp)
    recall = cumulative_tp.astype(float) / num_groundtruth
    return precision, recall


def voc_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC AP: area under the precision envelope, 0 without detections (`metrics.compute_average_precision`)."""
    if precision.size == 0:
        return 0.0
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def _keyframe_entries(
    items: Iterable[tuple[KeyframeKey, float, int, Box]], class_ids: Collection[int], *, capacity: int
) -> dict[KeyframeKey, list[_Entry]]:
    """Group (box, action) rows by keyframe as `read_csv` does: class filter, top-`capacity` heap, score order.

    `capacity < 1` keeps every row. Keyframes keep the order of their first kept row.
    """
    heaps: dict[KeyframeKey, list[_Entry]] = {}
    for key, score, action_id, (x1, y1, x2, y2) in items:
        if action_id not in class_ids:
            continue
        heap = heaps.setdefault(key, [])
        entry = (score, action_id, y1, x1, y2, x2)
        if capacity < 1 or len(heap) < capacity:
            heapq.heappush(heap, entry)
        elif score > heap[0][0]:
            heapq.heapreplace(heap, entry)
    return {key: sorted(heap, key=lambda entry: -entry[0]) for key, heap in heaps.items()}


def _as_arrays(entries: Sequence[_Entry]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes `[N, 4]` as `(y1, x1, y2, x2)`, labels `[N]` and scores `[N]` of one keyframe's entries."""
    if not entries:
        return np.zeros((0, 4)), np.zeros(0, dtype=int), np.zeros(0)
    boxes = np.array([entry[2:] for entry in entries], dtype=float)
    labels = np.array([entry[1] for entry in entries], dtype=int)
    scores = np.array([entry[0] for entry in entries], dtype=float)
    return boxes, labels, scores


def _groundtruth_score(row: AvaRow) -> float:
    """The reference reads an 8th ground-truth column (the person id) as a score; it orders boxes on a keyframe."""
    return float(row.person_id) if row.person_id is not None else 1.0


def _action_of(detection: Detection) -> int:
    if detection.action_id is None:
        raise SfpError(f"detection without an action id cannot be evaluated: {detection}")
    return detection.action_id


def _summarise(
    average_precisions: np.ndarray, labelmap: Sequence[LabelEntry], detections: int, in_labelmap: int
) -> AvaEvaluation:
    """mAP as `np.nanmean` over classes 1..max id, and per-class APs named as the reference names them."""
    has_value = not np.isnan(average_precisions).all()
    mean_ap = float(np.nanmean(average_precisions)) if has_value else float("nan")
    entries = sorted(labelmap, key=lambda entry: entry.id)
    per_class_id = {entry.id: float(average_precisions[entry.id - 1]) for entry in entries}
    per_class = {entry.name: per_class_id[entry.id] for entry in entries}
    return AvaEvaluation(mAP=mean_ap, per_class=per_class, per_class_id=per_class_id, detections=detections,
                         detections_in_labelmap=in_labelmap)

"""The AVA evaluation against the official numbers, and one small case per rule of the reference."""

import math
from pathlib import Path

import numpy as np
import pytest

from sfp.errors import SfpError
from sfp_train.ava.annotations import AvaRow, Detection
from sfp_train.ava.evaluation import (
    box_iou,
    evaluate_detections,
    evaluate_files,
    label_true_positives,
    precision_recall,
    voc_average_precision,
)
from sfp_train.ava.labelmap import LabelEntry

LABELMAP = [LabelEntry(1, "stand"), LabelEntry(2, "sit")]
BOX_A = (0.0, 0.0, 0.5, 1.0)  # x1, y1, x2, y2
BOX_B = (0.5, 0.0, 1.0, 1.0)
FAR = (0.9, 0.9, 1.0, 1.0)  # overlaps neither A nor B


def _fixtures() -> Path:
    root = next(parent for parent in Path(__file__).resolve().parents if (parent / "pyproject.toml").is_file())
    return root.parent / "shared" / "fixtures"


def gt(box, action=1, second=902, video="v"):
    return AvaRow(video, second, box, action)


def det(box, score, action=1, second=902, video="v"):
    return Detection(video, second, box, score, action)


def ap(groundtruth, detections, labelmap=LABELMAP, name="stand", **options):
    return evaluate_detections(groundtruth, detections, labelmap, **options).per_class[name]


def test_fixture_reproduces_the_official_evaluation():
    fixtures = _fixtures() / "ava_eval"

    result = evaluate_files(fixtures / "gt.csv", fixtures / "pred.csv", fixtures / "action_list.pbtxt")

    assert result.per_class == pytest.approx({"action1": 0.17045454545, "action2": 0.0, "action3": 0.11111111111})
    assert result.mAP == pytest.approx(0.09385521885, abs=1e-6)
    assert result.per_class_id == pytest.approx({1: 0.17045454545, 2: 0.0, 3: 0.11111111111})


def test_exclusions_file_removes_keyframes_from_both_sides(tmp_path):
    fixtures = _fixtures() / "ava_eval"
    exclusions = tmp_path / "excluded.csv"
    exclusions.write_text("HmR8SmNIoxu,1384\n")

    result = evaluate_files(fixtures / "gt.csv", fixtures / "pred.csv", fixtures / "action_list.pbtxt", exclusions)

    # Values of the reference's code run with the same exclusions file.
    assert result.per_class == pytest.approx({"action1": 1 / 6, "action2": 0.0, "action3": 0.25})
    assert result.mAP == pytest.approx(0.13888888888888887)


def test_iou_is_computed_without_plus_one():
    boxes = np.array([[0.0, 0.0, 1.0, 0.5], [0.0, 0.0, 1.0, 0.25]])  # (y1, x1, y2, x2)

    assert box_iou(boxes, boxes[:1]).ravel().tolist() == [1.0, 0.5]


def test_iou_of_exactly_one_half_matches_and_just_below_does_not():
    at_threshold = (0.0, 0.0, 0.25, 1.0)  # IoU with BOX_A = 0.25 / 0.5, exact in binary
    below = (0.0, 0.0, 0.25, 0.96875)  # IoU = 0.2421875 / 0.5

    assert ap([gt(BOX_A)], [det(at_threshold, 0.9)]) == 1.0
    assert ap([gt(BOX_A)], [det(below, 0.9)]) == 0.0


def test_a_ground_truth_box_matched_twice_makes_the_later_detection_a_false_positive():
    detections = [det(BOX_A, 0.9), det(BOX_A, 0.8), det(BOX_B, 0.7)]

    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1: AP = 0.5 * 1 + 0.5 * 2/3
    assert ap([gt(BOX_A), gt(BOX_B)], detections) == pytest.approx(0.5 + 1 / 3)


def test_a_detection_only_tries_its_best_overlapping_box():
    gt_boxes = np.array([[0.0, 0.0, 1.0, 0.5], [0.0, 0.0, 1.0, 0.6]])  # both overlap the detections well
    det_boxes = np.array([[0.0, 0.0, 1.0, 0.5], [0.0, 0.0, 1.0, 0.5]])

    # The second detection's best box is the first, already taken: it is a false positive although the
    # second box (IoU 0.83) is free. This is the reference's rule, not an optimal assignment.
    assert label_true_positives(det_boxes, gt_boxes).tolist() == [True, False]


def test_only_the_top_fifty_detections_of_a_keyframe_count():
    misses = [det(FAR, 0.9, action=2) for _ in range(49)]

    assert ap([gt(BOX_A)], [*misses, det(BOX_A, 0.5)]) == 1.0  # the 50th is kept
    one_more = [*misses, det(FAR, 0.9, action=2), det(BOX_A, 0.5)]
    assert ap([gt(BOX_A)], one_more) == 0.0  # 51st by score: dropped
    assert ap([gt(BOX_A)], one_more, max_detections_per_keyframe=51) == 1.0
    tie = [*misses, det(FAR, 0.5, action=2), det(BOX_A, 0.5)]
    assert ap([gt(BOX_A)], tie) == 0.0  # a score equal to the 50th does not enter


def test_the_cap_counts_only_classes_of_the_label_map():
    outside_map = [det(FAR, 0.9, action=7) for _ in range(60)]

    assert ap([gt(BOX_A)], [*outside_map, det(BOX_A, 0.5)]) == 1.0


def test_the_cap_is_per_keyframe():
    other_keyframe = [det(FAR, 0.9, second=903) for _ in range(60)]

    # 50 false positives survive on 903, ranked above the hit on 902: precision 1/51 at recall 1.
    assert ap([gt(BOX_A)], [*other_keyframe, det(BOX_A, 0.5)]) == pytest.approx(1 / 51)


def test_detections_on_keyframes_without_ground_truth_are_false_positives_as_in_the_reference():
    detections = [det(BOX_A, 0.9, second=950), det(BOX_A, 0.5)]

    assert ap([gt(BOX_A)], detections) == 0.5
    assert ap([gt(BOX_A)], detections, ignore_keyframes_without_groundtruth=True) == 1.0


def test_excluded_keyframes_are_removed_from_ground_truth_and_detections():
    groundtruth = [gt(BOX_A), gt(BOX_B, second=903)]
    detections = [det(FAR, 0.9, second=903), det(BOX_A, 0.5)]

    assert ap(groundtruth, detections) == 0.25  # precision 1/2 at recall 1/2
    assert ap(groundtruth, detections, excluded={("v", 903)}) == 1.0


def test_a_class_without_detections_scores_zero_and_one_without_ground_truth_is_left_out():
    labelmap = [*LABELMAP, LabelEntry(3, "walk")]
    groundtruth = [gt(BOX_A, action=1), gt(BOX_B, action=2)]
    detections = [det(BOX_A, 0.9, action=1), det(BOX_B, 0.9, action=3)]

    result = evaluate_detections(groundtruth, detections, labelmap)

    assert result.per_class["stand"] == 1.0
    assert result.per_class["sit"] == 0.0
    assert math.isnan(result.per_class["walk"])
    assert result.mAP == 0.5


def test_ground_truth_of_classes_outside_the_label_map_is_ignored():
    groundtruth = [gt(BOX_A, action=1), gt(BOX_B, action=9)]

    result = evaluate_detections(groundtruth, [det(BOX_A, 0.9)], LABELMAP)

    assert result.per_class_id == {1: 1.0, 2: result.per_class_id[2]}
    assert math.isnan(result.per_class_id[2]) and result.mAP == 1.0


def test_detections_with_empty_or_inverted_boxes_are_dropped():
    inverted = (0.5, 0.0, 0.0, 1.0)

    assert ap([gt(BOX_A)], [det(inverted, 0.9), det(BOX_A, 0.5)]) == 1.0


def test_ties_across_keyframes_rank_as_the_reference_argsort_does():
    # Equal scores: np.argsort(scores)[::-1] puts the later detection (the hit on 903) first.
    detections = [det(FAR, 0.5, second=902), det(BOX_A, 0.5, second=903)]

    assert ap([gt(BOX_A, second=902), gt(BOX_A, second=903)], detections) == 0.5


def test_voc_average_precision_uses_the_monotone_envelope():
    precision, recall = precision_recall(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 3)

    assert precision.tolist() == pytest.approx([1.0, 0.5, 2 / 3])
    assert recall.tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3])
    assert voc_average_precision(precision, recall) == pytest.approx(1 / 3 + 1 / 3 * 2 / 3)
    assert voc_average_precision(np.zeros(0), np.zeros(0)) == 0.0


def test_no_ground_truth_at_all_gives_nan():
    result = evaluate_detections([], [det(BOX_A, 0.9)], LABELMAP)

    assert math.isnan(result.mAP)


def test_label_maps_must_be_one_indexed():
    with pytest.raises(SfpError, match="ids >= 1"):
        evaluate_detections([gt(BOX_A)], [], [LabelEntry(0, "zero")])


def test_detections_need_an_action():
    with pytest.raises(SfpError, match="without an action id"):
        evaluate_detections([gt(BOX_A)], [Detection("v", 902, BOX_A, 0.9)], LABELMAP)

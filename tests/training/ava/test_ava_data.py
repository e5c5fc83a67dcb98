"""AVA inputs: boxes follow the frames through resize, crop and flip; multi-hot labels; keyframe tables."""

from pathlib import Path

import numpy as np
import pytest
import torch

from sfp_train.ava.data import AvaDataConfig, flatten_boxes, multi_hot, val_keyframes, train_keyframes
from sfp_train.ava.labelmap import LabelEntry
from sfp_train.ava.transforms import (
    crop_boxes,
    flip_boxes,
    padded_width,
    eval_transform_with_boxes,
    train_transform_with_boxes,
)

MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def frames_with_square(height: int, width: int, box: tuple[int, int, int, int], frames: int = 2) -> np.ndarray:
    """Black frames with a white rectangle at pixel box (x1, y1, x2, y2)."""
    video = np.zeros((frames, height, width, 3), np.uint8)
    x1, y1, x2, y2 = box
    video[:, y1:y2, x1:x2] = 255
    return video


def white_extent(clip: torch.Tensor) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of the bright pixels of the first frame of a `[3, T, H, W]` clip."""
    ys, xs = np.nonzero(clip[0, 0].numpy() > 0.5)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_crop_and_flip_move_boxes_like_pixels():
    boxes = np.array([[10, 20, 30, 40]], np.float32)
    np.testing.assert_allclose(crop_boxes(boxes, 5, 10, 2.0, 100), [[10, 20, 50, 60]])
    np.testing.assert_allclose(crop_boxes(boxes, 25, 0, 1.0, 20), [[0, 20, 5, 20]])  # clipped to the crop
    np.testing.assert_allclose(flip_boxes(np.array([[10, 0, 30, 5]], np.float32), 100), [[70, 0, 90, 5]])


@pytest.mark.parametrize("seed", range(6))
def test_train_transform_keeps_the_box_on_the_object(seed):
    height, width = 72, 96
    pixel_box = (40, 20, 64, 44)
    video = frames_with_square(height, width, pixel_box)
    boxes = np.array([[pixel_box[0] / width, pixel_box[1] / height, pixel_box[2] / width, pixel_box[3] / height]])
    clip, out = train_transform_with_boxes(video, boxes, short_side_range=(64, 90), crop_size=64, flip=True,
                                           mean=MEAN, std=STD, rng=np.random.default_rng(seed))
    assert clip.shape == (3, 2, 64, 64) and out.shape == (1, 4)
    if (clip[0, 0] > 0.5).any() and out[0, 2] - out[0, 0] > 2 and out[0, 3] - out[0, 1] > 2:
        np.testing.assert_allclose(white_extent(clip), out[0], atol=1.5)


def test_test_transform_resizes_without_crop_and_pads_to_one_width():
    video = frames_with_square(72, 96, (48, 36, 72, 60))
    boxes = np.array([[0.5, 0.5, 0.75, 0.8333]])
    clip, out = eval_transform_with_boxes(video, boxes, short_side=36, max_aspect=1.7, mean=MEAN, std=STD)
    assert clip.shape == (3, 2, 36, padded_width(36, 1.7)) == (3, 2, 36, 64)
    np.testing.assert_allclose(out[0], [24, 18, 36, 30], atol=0.01)
    np.testing.assert_allclose(white_extent(clip), out[0], atol=1)
    assert float(clip[:, :, :, 48:].abs().sum()) == 0  # the padding


def test_multi_hot_marks_each_box_actions_and_pads_with_zeros():
    hot = multi_hot([(0, 2), (1,), ()], num_actions=3, max_boxes=4)
    np.testing.assert_array_equal(hot, [[1, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 0]])
    assert multi_hot([(0,)] * 5, 2, max_boxes=2).shape == (2, 2)


def test_flatten_boxes_gives_roi_rows_with_batch_indices():
    batch = {"boxes": np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4), "box_count": np.array([2, 1]),
             "labels": np.ones((2, 3, 5), np.float32), "row_index": np.array([7, 9])}
    rois, labels, where = flatten_boxes(batch, torch.device("cpu"))
    assert rois.shape == (3, 5) and labels.shape == (3, 5)
    assert rois[:, 0].tolist() == [0, 0, 1] and rois[2, 1:].tolist() == [12, 13, 14, 15]
    assert where == [(7, 0), (7, 1), (9, 0)]


def write(path: Path, rows: list[str]) -> str:
    path.write_text("".join(row + "\n" for row in rows))
    return str(path)


def test_keyframe_tables_merge_ground_truth_and_label_detections_by_overlap(tmp_path):
    labelmap = [LabelEntry(1, "a"), LabelEntry(3, "c")]
    gt = write(tmp_path / "gt.csv", ["v,0902,0.1,0.1,0.5,0.5,1,0", "v,0902,0.1,0.1,0.5,0.5,3,0",
                                     "v,0902,0.6,0.6,0.9,0.9,2,1", "v,0903,0.1,0.1,0.5,0.5,3,0"])
    det = write(tmp_path / "det.csv", ["v,0902,0.11,0.1,0.5,0.5,,0.95", "v,0902,0.0,0.0,0.05,0.05,,0.99",
                                       "v,0902,0.6,0.6,0.9,0.9,,0.5", "w,0902,0.1,0.1,0.5,0.5,,0.99"])
    data = AvaDataConfig(framestore="x", labelmap="m", train_annotations=gt, val_annotations=gt,
                         train_detections=det, val_detections=det)
    train = train_keyframes(data, labelmap)
    assert [(k.video_id, k.keyframe_sec) for k in train] == [("v", 902), ("v", 903)]
    first = train[0]
    # two ground-truth boxes (action 2 is not in the label map), then two detections above 0.9
    assert first.labels == [(0, 1), (), (0, 1), ()]
    assert first.boxes[2] == (0.11, 0.1, 0.5, 0.5) and first.scores[2] == 0.95
    val = val_keyframes(data, labelmap)
    assert [(k.video_id, k.keyframe_sec, len(k.boxes)) for k in val] == [("v", 902, 2)]  # scores >= 0.8 only
    no_detections = val_keyframes(data.model_copy(update={"val_detections": None}), labelmap)
    assert [len(k.boxes) for k in no_detections] == [2, 1]

"""AVA keyframes as training and test inputs: which boxes each keyframe has, and the Ray Data pipeline that reads them.

A *keyframe table* is built once on the driver from the CSVs: per `(video_id, keyframe_sec)` its boxes (normalised)
with their actions as label-map positions, and a score. Training keyframes take the ground-truth boxes (rows merged
per box), optionally plus person-detector boxes above `train_detection_score`, labelled with the actions of the
ground-truth box they overlap most (IoU >= 0.5) or none; test keyframes take the detector's boxes with
`score >= val_detection_score` (0.8, the reference's), or the ground-truth boxes when no detection file is given.

The Ray Data rows are positions in the table; the map stage reads the JPEG frames of the keyframe's window
(`clip_frames` frames at `sampling_rate` on the store's grid, centred on the keyframe) with
`FrameStore.read_span_jpegs`, draws the view and moves the boxes into it: `{"jpegs", "region", "flip", ("extent",
"canvas"), "boxes" [B, M, 4] (pixels of the view), "box_count" [B], "labels" [B, M, A] multi-hot, "row_index" [B]}`
with `M = max_boxes` (padding rows are zeros). The worker's `keyframe_decoder` turns the frames into the pathways on
its device, as for Kinetics (`sfp_train.data.device_decode`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from pydantic import Field

from sfp.config import StorageUri
from sfp.framestore import FrameStore, window_times
from sfp_train.ava.annotations import AvaBox, Box, read_annotations, read_person_boxes
from sfp_train.ava.evaluation import box_iou
from sfp_train.ava.labelmap import LabelEntry
from sfp_train.ava.transforms import eval_view_with_boxes, train_view_with_boxes
from sfp_train.data.config import ClipSamplingConfig
from sfp_train.data.device_decode import CANVAS_COLUMN, EXTENT_COLUMN, ClipDecoder, train_region
from sfp_train.data.order import SeededFeed, row_rng
from sfp_train.data.pipeline import index_dataset, view_batch


class AvaDataConfig(ClipSamplingConfig):
    """The `data:` section of an AVA recipe (the reference's values for SlowFast R50 8x8 as defaults)."""

    framestore: StorageUri  # frame store of the training movies (`ava` format)
    val_framestore: StorageUri | None = None  # of the validation movies; default: `framestore`
    labelmap: str  # pbtxt: the actions trained and scored (the official 60, or all 80)
    train_annotations: str  # ground truth CSV
    val_annotations: str
    train_detections: str | None = None  # person boxes added to the training boxes
    val_detections: str | None = None  # person boxes tested on; None: the ground-truth boxes
    exclusions: str | None = None  # excluded val timestamps
    train_detection_score: float = Field(0.9, ge=0, le=1)
    val_detection_score: float = Field(0.8, ge=0, le=1)
    test_short_side: int = Field(256, ge=16)
    test_max_aspect: float = Field(1.78, ge=1.0)  # test clips are padded to this width / height
    max_boxes: int = Field(32, ge=1)  # per keyframe; more are dropped (AVA keyframes rarely have over 20)

    @property
    def val_store(self) -> str:
        return self.val_framestore or self.framestore


@dataclass
class Keyframe:
    video_id: str
    keyframe_sec: int
    boxes: list[Box] = field(default_factory=list)
    labels: list[tuple[int, ...]] = field(default_factory=list)  # per box: positions in the label map
    scores: list[float] = field(default_factory=list)


def label_positions(labelmap: list[LabelEntry]) -> dict[int, int]:
    """Action id -> position in the multi-hot vector (the label map's order)."""
    return {entry.id: position for position, entry in enumerate(labelmap)}


def multi_hot(labels: list[tuple[int, ...]], num_actions: int, max_boxes: int) -> np.ndarray:
    """`[max_boxes, num_actions]` float32, row `i` has ones at box `i`'s action positions (rows past the boxes: 0)."""
    hot = np.zeros((max_boxes, num_actions), np.float32)
    for row, positions in enumerate(labels[:max_boxes]):
        hot[row, list(positions)] = 1.0
    return hot


def _by_keyframe(boxes: list[AvaBox]) -> dict[tuple[str, int], list[AvaBox]]:
    grouped: dict[tuple[str, int], list[AvaBox]] = {}
    for box in boxes:
        grouped.setdefault((box.video_id, box.keyframe_sec), []).append(box)
    return grouped


def train_keyframes(data: AvaDataConfig, labelmap: list[LabelEntry]) -> list[Keyframe]:
    """Ground-truth boxes (actions outside the label map dropped), plus detected boxes labelled by overlap."""
    positions = label_positions(labelmap)
    truth = _by_keyframe(read_annotations(data.train_annotations))
    table = {key: Keyframe(*key) for key in truth}
    for key, boxes in truth.items():
        for box in boxes:
            table[key].boxes.append(box.box)
            table[key].labels.append(tuple(positions[a] for a in box.labels if a in positions))
            table[key].scores.append(1.0)
    if data.train_detections:
        for detection in read_person_boxes(data.train_detections, score_threshold=data.train_detection_score):
            key = (detection.video_id, detection.keyframe_sec)
            if key not in table:
                continue  # a keyframe without annotation is not a training keyframe
            entry = table[key]
            overlaps = box_iou(np.array([detection.box]), np.array(entry.boxes))[0]
            best = int(np.argmax(overlaps))
            entry.labels.append(entry.labels[best] if overlaps[best] >= 0.5 else ())
            entry.boxes.append(detection.box)
            entry.scores.append(detection.score)
    return sorted(table.values(), key=lambda k: (k.video_id, k.keyframe_sec))


def val_keyframes(data: AvaDataConfig, labelmap: list[LabelEntry]) -> list[Keyframe]:
    """Every annotated val keyframe with the detector's boxes at `val_detection_score` (or the ground truth's)."""
    positions = label_positions(labelmap)
    truth = _by_keyframe(read_annotations(data.val_annotations))
    table = {key: Keyframe(*key) for key in truth}
    if data.val_detections is None:
        for key, boxes in truth.items():
            for box in boxes:
                table[key].boxes.append(box.box)
                table[key].labels.append(tuple(positions[a] for a in box.labels if a in positions))
                table[key].scores.append(1.0)
    else:
        for detection in read_person_boxes(data.val_detections, score_threshold=data.val_detection_score):
            key = (detection.video_id, detection.keyframe_sec)
            if key in table:
                table[key].boxes.append(detection.box)
                table[key].labels.append(())
                table[key].scores.append(detection.score)
    return sorted((k for k in table.values() if k.boxes), key=lambda k: (k.video_id, k.keyframe_sec))


class _KeyframeLoader(ABC):
    """Map function: table positions -> the JPEG frames of the windows around their keyframes, with where each view
    lies (for the worker's decoder), its boxes in the view's pixels and their labels; subclasses say how the view is
    drawn (augmented for training, fixed for testing)."""

    def __init__(self, store: FrameStore, table: list[Keyframe], data: AvaDataConfig, *, num_frames: int,
                 num_actions: int, seed: int | None = None) -> None:
        self.store, self.table, self.data = store, table, data
        self.num_frames, self.num_actions, self.seed = num_frames, num_actions, seed

    def read_window(self, keyframe: Keyframe) -> tuple[list[bytes], int, int]:
        """The window's JPEG frames and their height and width."""
        first = self.store.segments(keyframe.video_id)[0]
        times = window_times(keyframe.keyframe_sec, self.num_frames, self.data.sampling_rate, first.fps)
        record = self.store.record(first.clip_id)
        return self.store.read_span_jpegs(keyframe.video_id, times), record.height, record.width

    @abstractmethod
    def view(self, height: int, width: int, boxes: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """The view of a `height x width` window with normalised `boxes` `[K, 4]`: `region`, `flip`, `boxes` in the
        view's pixels (and `extent`, `canvas` where the view does not fill a square crop)."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        size = self.data.max_boxes
        jpegs, views, boxes, counts, labels = [], [], [], [], []
        for position, row_index in enumerate(batch["row_index"]):
            keyframe = self.table[int(row_index)]
            frames, height, width = self.read_window(keyframe)
            view = self.view(height, width, np.array(keyframe.boxes[:size], np.float32),
                             row_rng(self.seed, batch, position))
            pixel_boxes = view.pop("boxes")
            padded = np.zeros((size, 4), np.float32)
            padded[: len(pixel_boxes)] = pixel_boxes
            jpegs.append(frames)
            views.append(view)
            boxes.append(padded)
            counts.append(len(pixel_boxes))
            labels.append(multi_hot(keyframe.labels, self.num_actions, size))
        packed = view_batch(jpegs, [view["region"] for view in views], [view["flip"] for view in views])
        for column in (EXTENT_COLUMN, CANVAS_COLUMN):
            if column in views[0]:
                packed[column] = np.asarray([view[column] for view in views], np.int64)
        packed.update(boxes=np.stack(boxes), box_count=np.asarray(counts, np.int64), labels=np.stack(labels),
                      row_index=np.asarray(batch["row_index"], np.int64))
        return packed


class TrainKeyframeLoader(_KeyframeLoader):
    """Map function: table positions -> augmented windows with their boxes and multi-hot labels."""

    def view(self, height, width, boxes, rng):
        data = self.data
        window, mirrored, pixel_boxes = train_view_with_boxes(height, width, boxes, short_side_range=data.train_short_side,
                                                              crop_size=data.crop_size, flip=data.flip, rng=rng)
        return {"region": train_region(window), "flip": mirrored, "boxes": pixel_boxes}


class EvalKeyframeLoader(_KeyframeLoader):
    """Map function: table positions -> test windows (fixed short side, no crop, padded) with their boxes."""

    def view(self, height, width, boxes, rng):
        view = eval_view_with_boxes(height, width, boxes, short_side=self.data.test_short_side,
                                    max_aspect=self.data.test_max_aspect)
        return {"region": view.region, "flip": False, "boxes": view.boxes, EXTENT_COLUMN: view.extent,
                CANVAS_COLUMN: view.canvas}


def keyframe_decoder(data: AvaDataConfig, *, train: bool, arch: str, alpha: int) -> ClipDecoder:
    """The worker-side half of the keyframe loaders: square training crops, or test views on their own canvas."""
    size = data.crop_size if train else data.test_short_side  # test batches carry their canvas
    return ClipDecoder(size=size, mean=data.mean, std=data.std, arch=arch, alpha=alpha, uint8_resize=train)


def keyframe_dataset(store: FrameStore, table: list[Keyframe], data: AvaDataConfig, *, num_frames: int,
                     num_actions: int):
    """The table's test windows as a Ray Dataset, in table order."""
    if not table:
        raise ValueError(f"{store.uri}: no annotated keyframes to read")
    loader = EvalKeyframeLoader(store, table, data, num_frames=num_frames, num_actions=num_actions)
    dataset = index_dataset([{"row_index": index} for index in range(len(table))])
    return dataset.map_batches(loader, batch_size=data.loader_batch_size, num_cpus=data.loader_cpus)


def keyframe_feed(store: FrameStore, table: list[Keyframe], data: AvaDataConfig, *, num_frames: int,
                  num_actions: int, seed: int) -> SeededFeed:
    """The table's training windows, augmented, in the seeded order of `sfp_train.data.order`."""
    if not table:
        raise ValueError(f"{store.uri}: no annotated keyframes to read")
    loader = TrainKeyframeLoader(store, table, data, num_frames=num_frames, num_actions=num_actions, seed=seed)
    return SeededFeed([{"row_index": index} for index in range(len(table))], loader, seed, data.loader_batch_size,
                      data.loader_cpus)


def flatten_boxes(batch: dict[str, Any], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
    """Padded per-clip boxes -> the RoI head's `[K, 5]` `(batch_index, x1, y1, x2, y2)`, their `[K, A]` labels and
    `(row_index, box position)` of each, in batch then slot order. Vectorised on `device`: the number of boxes is
    the one value that must reach the host."""
    boxes = torch.as_tensor(batch["boxes"]).to(device, torch.float32)  # [B, M, 4]
    counts = torch.as_tensor(batch["box_count"]).to(device)
    present = torch.arange(boxes.shape[1], device=device).view(1, -1) < counts.view(-1, 1)  # [B, M]
    batch_index = torch.arange(boxes.shape[0], device=device, dtype=torch.float32).view(-1, 1).expand_as(present)
    rois = torch.cat([batch_index[present].unsqueeze(1), boxes[present]], dim=1)
    labels = torch.as_tensor(batch["labels"]).to(device, torch.float32)[present]
    rows = torch.as_tensor(batch["row_index"]).tolist()
    where = [(int(row), slot) for row, count in zip(rows, counts.tolist()) for slot in range(int(count))]
    return rois, labels, where

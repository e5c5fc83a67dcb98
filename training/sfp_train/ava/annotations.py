"""AVA CSV files: ground truth, excluded timestamps, person-detector boxes and action detections.

All files have no header; boxes are normalised `x1, y1, x2, y2` in [0, 1]; `keyframe_sec` is an integer second
(the official files write it zero-padded to four digits, `0902`).

- ground truth: `video_id, keyframe_sec, x1, y1, x2, y2, action_id[, person_id]`, one row per (box, action), and
  `video_id, keyframe_sec` for a keyframe without boxes (the official files since 2020, AVA-Kinetics' among them:
  a keyframe that is evaluated although nobody in it does an annotated action);
- excluded timestamps: `video_id, keyframe_sec`;
- person-detector boxes: `video_id, keyframe_sec, x1, y1, x2, y2[, action_id], score` (the action column is
  often present but empty, as in the released `ava_*_predicted_boxes.csv`);
- action detections (what the evaluation reads): `video_id, keyframe_sec, x1, y1, x2, y2, action_id, score`.

A missing file raises `StorageError`, a malformed row `SfpError` naming the file and line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from sfp.errors import SfpError, StorageError

Box = tuple[float, float, float, float]
"""A normalised box `(x1, y1, x2, y2)`."""

KeyframeKey = tuple[str, int]
"""`(video_id, keyframe_sec)`: one annotated keyframe (the reference's image key `"%s,%04d"`)."""

T = TypeVar("T")


@dataclass(frozen=True)
class AvaRow:
    """One ground-truth row: one box with one action."""

    video_id: str
    keyframe_sec: int
    box: Box
    action_id: int
    person_id: int | None = None


@dataclass(frozen=True)
class AvaBox:
    """One person box at one keyframe with all of its actions (the rows of that box merged)."""

    video_id: str
    keyframe_sec: int
    box: Box
    labels: tuple[int, ...]
    person_id: int | None = None


@dataclass(frozen=True)
class Detection:
    """A scored box; `action_id` is None for person-detector boxes that carry no action."""

    video_id: str
    keyframe_sec: int
    box: Box
    score: float
    action_id: int | None = None


def read_annotation_rows(path: str | Path) -> list[AvaRow]:
    """Read a ground-truth CSV's boxes row by row, in file order (7 columns, or 8 with the person id); rows that
    name a keyframe without boxes are skipped (`read_groundtruth` keeps them)."""
    return read_groundtruth(path)[0]


def read_groundtruth(path: str | Path) -> tuple[list[AvaRow], set[KeyframeKey]]:
    """Read a ground-truth CSV as the official evaluation does: its box rows in file order, and the keyframes it
    lists on rows of their own (`video_id, keyframe_sec`: keyframes without boxes)."""
    rows, listed = [], set()
    for source, line, cells in _csv_rows(Path(path), "AVA annotation file", (2, 7, 8)):
        keyframe_sec = _parse(source, line, "keyframe_sec", cells[1], int)
        if len(cells) == 2:
            listed.add((cells[0], keyframe_sec))
            continue
        person_id = _parse(source, line, "person_id", cells[7], int) if len(cells) == 8 else None
        rows.append(
            AvaRow(
                video_id=cells[0],
                keyframe_sec=keyframe_sec,
                box=_parse_box(source, line, cells[2:6]),
                action_id=_parse(source, line, "action_id", cells[6], int),
                person_id=person_id,
            )
        )
    return rows, listed


def merge_rows(rows: Iterable[AvaRow]) -> list[AvaBox]:
    """Merge the rows of one box (same video, keyframe, coordinates and person) into one multi-label box.

    Boxes come out in order of first appearance; labels are sorted and de-duplicated.
    """
    labels: dict[tuple[str, int, Box, int | None], set[int]] = {}
    for row in rows:
        labels.setdefault((row.video_id, row.keyframe_sec, row.box, row.person_id), set()).add(row.action_id)
    return [
        AvaBox(video_id, keyframe_sec, box, tuple(sorted(actions)), person_id)
        for (video_id, keyframe_sec, box, person_id), actions in labels.items()
    ]


def read_annotations(path: str | Path) -> list[AvaBox]:
    """Read a ground-truth CSV into multi-label boxes (`merge_rows` of `read_annotation_rows`)."""
    return merge_rows(read_annotation_rows(path))


def read_exclusions(path: str | Path) -> set[KeyframeKey]:
    """Read an excluded-timestamps CSV (`video_id, keyframe_sec`) into a set of keyframe keys."""
    return {
        (cells[0], _parse(source, line, "keyframe_sec", cells[1], int))
        for source, line, cells in _csv_rows(Path(path), "AVA exclusions file", (2,))
    }


def read_person_boxes(path: str | Path, *, score_threshold: float = 0.8) -> list[Detection]:
    """Read person-detector boxes, keeping those with `score >= score_threshold`.

    Rows have 7 columns (no action) or 8 with an action column that may be empty.
    """
    boxes = []
    for source, line, cells in _csv_rows(Path(path), "person box file", (7, 8)):
        action = cells[6] if len(cells) == 8 else ""
        box = Detection(
            video_id=cells[0],
            keyframe_sec=_parse(source, line, "keyframe_sec", cells[1], int),
            box=_parse_box(source, line, cells[2:6]),
            score=_parse(source, line, "score", cells[-1], float),
            action_id=_parse(source, line, "action_id", action, int) if action else None,
        )
        if box.score >= score_threshold:
            boxes.append(box)
    return boxes


def read_detections(path: str | Path) -> list[Detection]:
    """Read action detections in the official format, in file order.

    As the reference's `read_csv`, 7 columns mean no score column and a score of 1.0. A row without an action
    (a person-detector box file given for detections) stops with a line that says so.
    """
    detections = []
    for source, line, cells in _csv_rows(Path(path), "AVA detections file", (7, 8)):
        if not cells[6]:
            raise SfpError(f"{source}:{line}: no action_id: detections are video_id,keyframe_sec,x1,y1,x2,y2,"
                           "action_id,score (person boxes carry no action)")
        detections.append(
            Detection(
                video_id=cells[0],
                keyframe_sec=_parse(source, line, "keyframe_sec", cells[1], int),
                box=_parse_box(source, line, cells[2:6]),
                score=_parse(source, line, "score", cells[7], float) if len(cells) == 8 else 1.0,
                action_id=_parse(source, line, "action_id", cells[6], int),
            )
        )
    return detections


def write_detections(path: str | Path, detections: Iterable[Detection]) -> None:
    """Write action detections as the official evaluation reads them: `video_id,0902,x1,y1,x2,y2,action_id,score`.

    Boxes are written with 3 decimals, like AVA's own files; scores with 6.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as file:
        for detection in detections:
            if detection.action_id is None:
                raise ValueError(f"detection without an action cannot be written: {detection}")
            x1, y1, x2, y2 = detection.box
            file.write(
                f"{detection.video_id},{detection.keyframe_sec:04d},{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f},"
                f"{detection.action_id},{detection.score:.6f}\n"
            )


def _csv_rows(path: Path, what: str, widths: tuple[int, ...]) -> Iterator[tuple[Path, int, list[str]]]:
    """Yield (path, line number, stripped cells) for each non-blank row, checking the column count."""
    if not path.is_file():
        raise StorageError(f"{what} not found: {path}")
    *others, last = (str(width) for width in widths)
    expected = f"{', '.join(others)} or {last}" if others else last
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        for cells in reader:
            cells = [cell.strip() for cell in cells]
            if not any(cells):
                continue
            if len(cells) not in widths:
                raise SfpError(f"{path}:{reader.line_num}: expected {expected} columns, got {len(cells)}")
            if not cells[0]:
                raise SfpError(f"{path}:{reader.line_num}: empty video_id")
            yield path, reader.line_num, cells


def _parse(path: Path, line: int, column: str, value: str, kind: Callable[[str], T]) -> T:
    """Convert one cell with `int` or `float`, or raise an error naming the file, line and column."""
    try:
        parsed = kind(value)
    except ValueError:
        parsed = None
    if parsed is None or (isinstance(parsed, float) and not math.isfinite(parsed)):
        noun = "an integer" if kind is int else "a finite number"
        raise SfpError(f"{path}:{line}: {column} must be {noun}, got {value!r}")
    return parsed


def _parse_box(path: Path, line: int, cells: list[str]) -> Box:
    x1, y1, x2, y2 = (_parse(path, line, name, cell, float) for name, cell in zip(("x1", "y1", "x2", "y2"), cells))
    return (x1, y1, x2, y2)

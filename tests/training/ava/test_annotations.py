from pathlib import Path

import pytest

from sfp.errors import SfpError, StorageError
from sfp_train.ava.annotations import (
    AvaBox,
    AvaRow,
    Detection,
    merge_rows,
    read_annotation_rows,
    read_annotations,
    read_detections,
    read_exclusions,
    read_person_boxes,
    write_detections,
)


def _fixtures() -> Path:
    root = next(parent for parent in Path(__file__).resolve().parents if (parent / "pyproject.toml").is_file())
    return root.parent / "shared" / "fixtures"


def test_reads_rows_with_integer_keyframes_and_person_ids():
    rows = read_annotation_rows(_fixtures() / "ava" / "ava_sample.csv")

    assert len(rows) == 8
    assert rows[0] == AvaRow("0f39OWEqJ24", 902, (0.031, 0.162, 0.670, 0.995), 12, 0)
    assert rows[-1] == AvaRow("_-Z6wFjXtGQ", 902, (0.063, 0.049, 0.524, 0.996), 80, 0)


def test_merges_the_rows_of_one_box_into_a_multi_label_box():
    boxes = read_annotations(_fixtures() / "ava" / "ava_sample.csv")

    assert boxes == [
        AvaBox("0f39OWEqJ24", 902, (0.031, 0.162, 0.670, 0.995), (12, 17, 79), 0),
        AvaBox("0f39OWEqJ24", 903, (0.034, 0.189, 0.669, 0.980), (12, 17), 0),
        AvaBox("_-Z6wFjXtGQ", 902, (0.063, 0.049, 0.524, 0.996), (12, 74, 80), 0),
    ]


def test_merge_sorts_and_deduplicates_labels_and_keeps_people_apart():
    box = (0.1, 0.1, 0.5, 0.9)
    rows = [AvaRow("v", 902, box, 80, 1), AvaRow("v", 902, box, 12, 1), AvaRow("v", 902, box, 80, 1)]
    rows.append(AvaRow("v", 902, box, 12, 2))

    assert merge_rows(rows) == [AvaBox("v", 902, box, (12, 80), 1), AvaBox("v", 902, box, (12,), 2)]


def test_person_id_is_optional(tmp_path):
    path = tmp_path / "gt.csv"
    path.write_text("v,0902,0.1,0.2,0.3,0.4,5\n\n")

    assert read_annotation_rows(path) == [AvaRow("v", 902, (0.1, 0.2, 0.3, 0.4), 5, None)]


def test_reads_exclusions_as_keyframe_keys(tmp_path):
    path = tmp_path / "excluded.csv"
    path.write_text("-5KQ66BBWC4,0902\n-5KQ66BBWC4,1013\n")

    assert read_exclusions(path) == {("-5KQ66BBWC4", 902), ("-5KQ66BBWC4", 1013)}


def test_person_boxes_keep_scores_at_or_above_the_threshold(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text(
        "v,0902,0.1,0.2,0.3,0.4,,0.95\n"  # empty action column, as in the released predicted boxes
        "v,0902,0.5,0.2,0.7,0.4,,0.8\n"
        "v,0902,0.1,0.5,0.3,0.9,,0.79\n"
        "v,0903,0.1,0.2,0.3,0.4,0.99\n"  # 7 columns: no action column
        "v,0903,0.2,0.2,0.3,0.4,11,0.9\n"
    )

    boxes = read_person_boxes(path)

    assert boxes == [
        Detection("v", 902, (0.1, 0.2, 0.3, 0.4), 0.95),
        Detection("v", 902, (0.5, 0.2, 0.7, 0.4), 0.8),
        Detection("v", 903, (0.1, 0.2, 0.3, 0.4), 0.99),
        Detection("v", 903, (0.2, 0.2, 0.3, 0.4), 0.9, 11),
    ]
    assert len(read_person_boxes(path, score_threshold=0.0)) == 5


def test_writes_detections_in_the_official_format_and_reads_them_back(tmp_path):
    detections = [
        Detection("0f39OWEqJ24", 902, (0.03125, 0.162, 0.67, 0.995), 0.123456789, 12),
        Detection("_-Z6wFjXtGQ", 1798, (0.0, 0.0, 1.0, 1.0), 1.0, 80),
    ]
    path = tmp_path / "out" / "detections.csv"

    write_detections(path, detections)

    assert path.read_text() == (
        "0f39OWEqJ24,0902,0.031,0.162,0.670,0.995,12,0.123457\n_-Z6wFjXtGQ,1798,0.000,0.000,1.000,1.000,80,1.000000\n"
    )
    assert read_detections(path)[1] == detections[1]


def test_writing_a_detection_without_action_is_refused(tmp_path):
    with pytest.raises(ValueError, match="without an action"):
        write_detections(tmp_path / "d.csv", [Detection("v", 902, (0.1, 0.1, 0.2, 0.2), 0.5)])


def test_detections_without_score_column_score_one_as_in_the_reference(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("v,0902,0.1,0.2,0.3,0.4,7\n")

    assert read_detections(path) == [Detection("v", 902, (0.1, 0.2, 0.3, 0.4), 1.0, 7)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("v,0902,0.1,0.2,0.3,0.4,5,0\nv,0902,0.1,0.2,0.3\n", ":2: expected 2, 7 or 8 columns, got 5"),
        ("v,09x2,0.1,0.2,0.3,0.4,5,0\n", ":1: keyframe_sec must be an integer, got '09x2'"),
        ("v,0902,0.1,abc,0.3,0.4,5,0\n", ":1: y1 must be a finite number, got 'abc'"),
        ("v,0902,0.1,0.2,0.3,nan,5,0\n", ":1: y2 must be a finite number, got 'nan'"),
        ("v,0902,0.1,0.2,0.3,0.4,walk,0\n", ":1: action_id must be an integer, got 'walk'"),
        ("v,0902,0.1,0.2,0.3,0.4,5,p1\n", ":1: person_id must be an integer, got 'p1'"),
        (",0902,0.1,0.2,0.3,0.4,5,0\n", ":1: empty video_id"),
    ],
)
def test_malformed_annotation_rows_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad_gt.csv"
    path.write_text(content)

    with pytest.raises(SfpError) as error:
        read_annotation_rows(path)

    assert str(error.value) == f"{path}{message}"


def test_malformed_detection_and_exclusion_rows_name_the_file_and_line(tmp_path):
    detections = tmp_path / "bad_det.csv"
    detections.write_text("v,0902,0.1,0.2,0.3,0.4,5,0.5\nv,0902,0.1,0.2,0.3,0.4,5,high\n")
    exclusions = tmp_path / "bad_ex.csv"
    exclusions.write_text("v,0902,extra\n")

    with pytest.raises(SfpError, match=r"bad_det\.csv:2: score must be a finite number, got 'high'"):
        read_detections(detections)
    with pytest.raises(SfpError, match=r"bad_ex\.csv:1: expected 2 columns, got 3"):
        read_exclusions(exclusions)


@pytest.mark.parametrize("reader", [read_annotation_rows, read_exclusions, read_detections, read_person_boxes])
def test_missing_files_are_storage_errors_naming_the_file(tmp_path, reader):
    with pytest.raises(StorageError, match=r"not found: .*nothing\.csv"):
        reader(tmp_path / "nothing.csv")

"""`sfp ava-eval` on the official files' other rows: keyframes listed without boxes (`video_id,timestamp`), as the
2020 reference evaluates them, and detections files that give nothing to score (a warning, exit 0, as the
reference prints mAP 0)."""

import json
from pathlib import Path

import pytest

from sfp_app.cli.main import main
from sfp.errors import SfpError
from sfp_train.ava.annotations import AvaRow, read_annotation_rows, read_groundtruth
from sfp_train.ava.evaluation import evaluate_files

LABELMAP = 'item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "sit"\n  id: 2\n}\n'
BOX = "0.100,0.100,0.500,0.900"


def _fixtures() -> Path:
    root = next(parent for parent in Path(__file__).resolve().parents if (parent / "pyproject.toml").is_file())
    return root.parent / "shared" / "fixtures" / "ava_eval"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """One box of `stand` on v@902; v@903 listed without boxes. Detections: a hit on 902 (0.5), a false positive on
    the listed 903 (0.9), and one on 904 (0.95), a keyframe the ground truth does not name."""
    detections = f"v,0902,{BOX},1,0.5\nv,0903,{BOX},1,0.9\nv,0904,{BOX},1,0.95\n"
    return {
        "listed": write(tmp_path, "gt_listed.csv", f"v,0902,{BOX},1,0\nv,0903\n"),
        "boxes_only": write(tmp_path, "gt.csv", f"v,0902,{BOX},1,0\n"),
        "detections": write(tmp_path, "det.csv", detections),
        "labelmap": write(tmp_path, "map.pbtxt", LABELMAP),
    }


def test_ground_truth_reads_keyframes_listed_without_boxes(files):
    rows, listed = read_groundtruth(files["listed"])

    assert rows == [AvaRow("v", 902, (0.1, 0.1, 0.5, 0.9), 1, 0)]
    assert listed == {("v", 903)}
    assert read_annotation_rows(files["listed"]) == rows  # training readers see the boxes only


def test_listed_keyframes_are_evaluated_and_unnamed_ones_ignored_as_the_2020_reference(files):
    result = evaluate_files(files["listed"], files["detections"], files["labelmap"])

    # 904 is ignored; 903's detection is a false positive ranked above the hit: precision 1/2 at recall 1
    assert result.per_class["stand"] == pytest.approx(0.5)


def test_without_listed_keyframes_every_detection_counts_as_the_2018_reference(files):
    result = evaluate_files(files["boxes_only"], files["detections"], files["labelmap"])

    # 904 and 903 are both false positives ranked above the hit: precision 1/3 at recall 1
    assert result.per_class["stand"] == pytest.approx(1 / 3)


def test_the_official_fixture_scores_the_same_with_a_listed_empty_keyframe(tmp_path):
    fixtures = _fixtures()
    groundtruth = write(tmp_path, "gt.csv", (fixtures / "gt.csv").read_text() + "3reY9zJKhqN,1775\n")

    result = evaluate_files(groundtruth, fixtures / "pred.csv", fixtures / "action_list.pbtxt")

    # every fixture detection is on a keyframe with boxes, and none on the listed one: the official numbers hold
    assert result.mAP == pytest.approx(0.09385521885, abs=1e-6)


def test_a_listed_keyframe_with_a_bad_time_names_its_line(tmp_path):
    path = write(tmp_path, "gt.csv", f"v,0902,{BOX},1,0\nv,09x3\n")

    with pytest.raises(SfpError, match=r"gt\.csv:2: keyframe_sec must be an integer, got '09x3'"):
        read_groundtruth(path)


def cli(files: dict[str, Path], groundtruth: Path, detections: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["ava-eval", "--groundtruth", str(groundtruth), "--detections", str(detections),
                 "--labelmap", str(files["labelmap"]), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_evaluates_listed_keyframes(files, capsys):
    code, out, err = cli(files, files["listed"], files["detections"], capsys, "--json")

    assert (code, err) == (0, "")
    assert json.loads(out) == {"mAP": pytest.approx(0.5), "per_class": {"stand": pytest.approx(0.5), "sit": None}}


def test_an_empty_detections_file_warns_and_scores_zero(files, tmp_path, capsys):
    empty = write(tmp_path, "empty.csv", "")

    code, out, err = cli(files, files["boxes_only"], empty, capsys, "--json")

    assert code == 0  # as the reference, which prints mAP 0; the warning says why
    assert json.loads(out)["mAP"] == 0.0
    assert err == (f"sfp: warning: no detections: the file is empty, every class with ground truth scores AP 0 "
                   f"({empty})\n")


def test_detections_of_no_class_of_the_label_map_warn(files, tmp_path, capsys):
    other_classes = write(tmp_path, "det.csv", f"v,0902,{BOX},7,0.9\nv,0902,{BOX},8,0.8\n")

    code, out, err = cli(files, files["boxes_only"], other_classes, capsys)

    assert code == 0
    assert out.splitlines()[-1] == "mAP    0.0000"
    assert err == (f"sfp: warning: none of the 2 detections is of a class of the label map {files['labelmap']}: every "
                   f"class with ground truth scores AP 0 ({other_classes})\n")


def test_detections_without_actions_are_one_line(files, tmp_path, capsys):
    person_boxes = write(tmp_path, "boxes.csv", f"v,0902,{BOX},,0.9\n")  # a person-detector file

    code, out, err = cli(files, files["boxes_only"], person_boxes, capsys)

    assert (code, out) == (2, "")
    assert err.startswith(f"sfp: error: {person_boxes}:1: no action_id: ") and err.count("\n") == 1


def test_useful_detections_give_no_warning(capsys):
    fixtures = _fixtures()

    code = main(["ava-eval", "--groundtruth", str(fixtures / "gt.csv"), "--detections", str(fixtures / "pred.csv"),
                 "--labelmap", str(fixtures / "action_list.pbtxt")])

    assert code == 0 and capsys.readouterr().err == ""

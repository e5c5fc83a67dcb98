import json
import subprocess
import sys
from pathlib import Path

import pytest

from sfp_app.cli.main import main


def _fixtures() -> Path:
    root = next(parent for parent in Path(__file__).resolve().parents if (parent / "pyproject.toml").is_file())
    return root.parent / "shared" / "fixtures"


def _arguments(groundtruth: Path | None = None) -> list[str]:
    fixtures = _fixtures() / "ava_eval"
    return [
        "ava-eval",
        "--groundtruth",
        str(groundtruth or fixtures / "gt.csv"),
        "--detections",
        str(fixtures / "pred.csv"),
        "--labelmap",
        str(fixtures / "action_list.pbtxt"),
    ]


def test_json_output_carries_the_official_values(capsys):
    assert main([*_arguments(), "--json"]) == 0

    result = json.loads(capsys.readouterr().out)
    assert result["mAP"] == pytest.approx(0.09385521885, abs=1e-6)
    assert result["per_class"] == pytest.approx({"action1": 0.17045454545, "action2": 0.0, "action3": 0.11111111111})


def test_table_output_lists_each_class_and_the_mean(capsys):
    assert main(_arguments()) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines == ["class    AP@0.5", "action1  0.1705", "action2  0.0000", "action3  0.1111", "mAP      0.0939"]


def test_classes_without_ground_truth_are_null_in_json(tmp_path, capsys):
    labelmap = tmp_path / "map.pbtxt"
    labelmap.write_text((_fixtures() / "ava_eval" / "action_list.pbtxt").read_text() + 'item { name: "x" id: 9 }\n')
    arguments = _arguments()
    arguments[-1] = str(labelmap)

    assert main([*arguments, "--json"]) == 0

    result = json.loads(capsys.readouterr().out)
    assert result["per_class"]["x"] is None
    assert result["mAP"] == pytest.approx(0.09385521885, abs=1e-6)


def test_exclusions_option_is_applied(tmp_path, capsys):
    exclusions = tmp_path / "excluded.csv"
    exclusions.write_text("HmR8SmNIoxu,1384\n")

    assert main([*_arguments(), "--exclusions", str(exclusions), "--json"]) == 0

    assert json.loads(capsys.readouterr().out)["mAP"] == pytest.approx(0.13888888888888887)


def test_a_missing_file_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "no_gt.csv"

    assert main(_arguments(missing)) == 2

    assert capsys.readouterr().err == f"sfp: error: AVA annotation file not found: {missing}\n"


def test_runs_as_a_module():
    completed = subprocess.run(
        [sys.executable, "-m", "sfp_app.cli.main", *_arguments(), "--json"], capture_output=True, text=True, check=True
    )

    assert json.loads(completed.stdout)["mAP"] == pytest.approx(0.09385521885, abs=1e-6)

import json
from pathlib import Path

import pytest

from sfp_app.cli.main import main

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs" / "models"


def summary_json(capsys, *argv: str) -> dict:
    assert main(["model", "summary", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_summary_json_of_the_r50_8x8_recipe(capsys):
    result = summary_json(capsys, str(CONFIGS / "slowfast_r50_8x8.yaml"))
    assert result["params"] == 34_566_488
    assert round(result["gmacs"], 1) == 65.7
    assert result["input_shapes"] == [[1, 3, 8, 256, 256], [1, 3, 32, 256, 256]]
    assert set(result["params_by_part"]) == {"slow", "fast", "lateral", "head"}
    assert result["params_by_stage"]["fast.res2"] == 4_832
    assert sum(result["params_by_stage"].values()) == result["params"]


@pytest.mark.parametrize(
    "name, params, gmacs",
    [
        ("slowfast_r50_4x16", 34_480_216, 36.1),
        ("slowfast_r101_8x8", 62_826_968, 125.9),
        ("slow_only_r50", 32_454_096, 54.5),
        ("slowfast_r50_ava", 33_828_888, 96.9),
    ],
)
def test_summary_of_every_shipped_recipe(capsys, name, params, gmacs):
    result = summary_json(capsys, str(CONFIGS / f"{name}.yaml"))
    assert (result["params"], round(result["gmacs"], 1)) == (params, gmacs)


def test_overrides_num_classes_and_crop_size(capsys):
    recipe = str(CONFIGS / "slowfast_r50_8x8.yaml")
    result = summary_json(capsys, recipe, "model.depth=101", "model.fusion_kernel_size=5", "--num-classes", "400")
    assert result["params"] == 62_826_968
    result = summary_json(capsys, str(CONFIGS / "slowfast_r50_8x8.yaml"), "--num-classes", "600", "--crop-size", "224")
    assert result["params"] == 34_566_488 + 200 * 2305
    assert round(result["gmacs"], 1) == round(65.7088 * (224 / 256) ** 2, 1)


def test_table_output(capsys):
    assert main(["model", "summary", str(CONFIGS / "slowfast_r50_4x16.yaml")]) == 0
    out = capsys.readouterr().out
    assert "parameters: 34,480,216 (34.48M)" in out
    assert "GMACs per view: 36.1" in out
    assert "lateral.res4" in out


def test_bad_config_is_one_line_error(capsys, tmp_path):
    assert main(["model", "summary", str(CONFIGS / "slowfast_r50_8x8.yaml"), "model.depth=34"]) == 2
    assert "model: depth: Input should be 18, 50 or 101 (got 34)" in capsys.readouterr().err
    (tmp_path / "recipe.yaml").write_text("data:\n  root: x\n")
    assert main(["model", "summary", str(tmp_path / "recipe.yaml")]) == 2
    assert "no `model:` section" in capsys.readouterr().err

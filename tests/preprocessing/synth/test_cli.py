"""`sfp datasets synth`: overrides, the one-line summary, the idempotent rerun, and errors that name the key."""

from __future__ import annotations

import argparse
import csv

import pytest

from sfp_app.cli import datasets
from sfp.errors import ConfigError

TINY = ["classes=[move_right,oscillate_horizontal]", "clips_per_class=2", "duration_sec=0.5", "width=64", "height=48"]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sfp")
    datasets.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_synth_renders_with_a_config_file_and_overrides_then_does_nothing_when_rerun(tmp_path, capsys):
    recipe = tmp_path / "synth.yaml"
    recipe.write_text("seed: 3\nval_fraction: 0.5\n")
    out = tmp_path / "data"
    assert run(["datasets", "synth", "--out", str(out), "--config", str(recipe), *TINY]) == 0
    assert "wrote 4 clips of 2 classes (2 train, 2 val)" in capsys.readouterr().out
    with (out / "annotations.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert {row["label"] for row in rows} == {"move_right", "oscillate_horizontal"}
    assert all((out / "videos" / row["label"]).is_dir() for row in rows)

    mtime = (out / "annotations.csv").stat().st_mtime_ns
    assert run(["datasets", "synth", "--out", str(out), "--config", str(recipe), *TINY]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (out / "annotations.csv").stat().st_mtime_ns == mtime

    assert run(["datasets", "synth", "--out", str(out), "--config", str(recipe), *TINY, "--force"]) == 0
    assert "wrote 4 clips" in capsys.readouterr().out


@pytest.mark.parametrize(("override", "key"), [("clip_per_class=8", "clip_per_class"), ("seed=-1", "seed")])
def test_a_bad_override_is_an_error_naming_the_key(tmp_path, override, key):
    with pytest.raises(ConfigError, match=rf"^config: {key}: "):
        run(["datasets", "synth", "--out", str(tmp_path / "data"), override])
    assert not (tmp_path / "data").exists()


def test_an_unknown_class_is_an_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"classes: .*unknown class 'spin'"):
        run(["datasets", "synth", "--out", str(tmp_path / "data"), "classes=[move_left,spin]"])

"""sfp_app.demo: the demo YAML validated once into a typed DemoConfig, each section by its own class, before any work."""

from pathlib import Path

import pytest

from sfp.errors import ConfigError
from sfp_app.cli.demo import DEFAULT_CONFIG
from sfp_app.cli.main import main
from sfp_app.demo import DemoConfig, load_demo_config
from sfp_preprocess.config import PreprocessConfig
from sfp_train.ava.recipe import AvaRecipe
from sfp_train.recipe import TrainRecipe


def test_the_demo_yaml_becomes_typed_sections_with_their_locations_under_the_workdir(tmp_path):
    config = load_demo_config(DEFAULT_CONFIG, ["train.optim.epochs=2"], tmp_path)
    assert isinstance(config, DemoConfig)
    assert isinstance(config.train, TrainRecipe) and isinstance(config.preprocess, PreprocessConfig)
    assert (config.train.name, config.train.optim.epochs, config.train.model.depth) == ("demo", 2, 18)
    assert config.preprocess.output.uri == str(tmp_path / "framestore") == config.train.data.framestore
    assert config.train.checkpoint.storage_uri == str(tmp_path / "runs")
    assert (config.dataset_dir, config.ava_dataset_dir) == (tmp_path / "dataset", tmp_path / "ava-dataset")
    assert isinstance(config.ava.finetune, AvaRecipe)
    assert config.ava.finetune.init.from_model == "models:/slowfast-demo@kinetics-pretrained"
    assert config.ava.finetune.model.task == "detection" and config.ava.finetune.model.depth == 18
    assert config.ava.preprocess.output.uri == str(tmp_path / "ava-framestore") == config.ava.finetune.data.framestore


def test_a_disabled_ava_stage_is_none_and_not_validated(tmp_path):
    config = load_demo_config(DEFAULT_CONFIG, ["ava.enabled=false", "ava.finetune.optim.epoch=3"], tmp_path)
    assert config.ava is None


@pytest.mark.parametrize(("override", "message"), [
    ("trian.optim.epochs=2", "demo config: trian: unknown key"),
    ("ava.synt.people=2", "demo config: ava.synt: unknown key"),
    ("train.optim.epoch=4", "train: optim.epoch: unknown key"),
    ("ava.finetune.optim.epoch=4", "ava.finetune: optim.epoch: unknown key"),
    ("synth.clips_per_class=none", "synth: clips_per_class: Input should be a valid integer"),
])
def test_a_bad_key_or_value_names_its_section(tmp_path, override, message):
    with pytest.raises(ConfigError) as error:
        load_demo_config(DEFAULT_CONFIG, [override], tmp_path)
    assert str(error.value).startswith(message)


def test_sfp_demo_with_a_bad_key_is_one_line_and_writes_nothing(tmp_path, capsys):
    workdir = tmp_path / "demo"
    assert main(["demo", "--workdir", str(workdir), "trian.optim.epochs=2"]) == 2
    assert capsys.readouterr().err == "sfp: error: demo config: trian: unknown key\n"
    assert not workdir.exists()

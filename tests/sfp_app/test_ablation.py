"""sfp_app.ablation: the ablation YAML on its demo base validated once into a typed AblationConfig (one recipe per
architecture, the demo's locations), before any work. The runs themselves: tests/training/test_ablation.py."""

from pathlib import Path

import pytest

from sfp.errors import ConfigError
from sfp_app.ablation import AblationConfig, load_ablation_config
from sfp_app.cli.experiment import DEFAULT_CONFIG
from sfp_app.cli.main import main


def test_the_ablation_yaml_becomes_one_recipe_per_architecture_under_the_workdir(tmp_path):
    config = load_ablation_config(DEFAULT_CONFIG, ["train.optim.epochs=3"], tmp_path, name="abl")
    assert isinstance(config, AblationConfig)
    assert {key: (recipe.name, recipe.model.arch, recipe.optim.epochs, recipe.registry.model_name)
            for key, recipe in config.arches.items()} == {
        "slow-only": ("abl-slow-only", "slow_only", 3, "slowfast-ablation-slow-only"),
        "fast-only": ("abl-fast-only", "fast_only", 3, "slowfast-ablation-fast-only"),
        "slowfast": ("abl-slowfast", "slowfast", 3, "slowfast-ablation-slowfast")}
    assert config.picture == tmp_path / "abl.png"
    assert config.dataset_dir == tmp_path / "dataset"
    assert config.synth.clips_per_class == 24  # the demo's, from `base: demo.yaml`
    assert {recipe.data.framestore for recipe in config.arches.values()} == {config.preprocess.output.uri}
    assert config.preprocess.output.uri == str(tmp_path / "framestore")
    assert {recipe.tracking.experiment for recipe in config.arches.values()} == {"ablation"}


def test_the_default_name_is_the_train_name_with_a_timestamp_and_the_picture_may_go_elsewhere(tmp_path):
    config = load_ablation_config(DEFAULT_CONFIG, [], tmp_path, picture=Path("elsewhere/p.png"))
    assert config.name.startswith("ablation-") and len(config.name) == len("ablation-20250101-120000")
    assert config.picture == Path("elsewhere/p.png").absolute()


def test_an_architecture_that_changes_more_than_the_model_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"arches\.slowfast\.optim: only `model:` may differ"):
        load_ablation_config(DEFAULT_CONFIG, ["arches.slowfast.optim.epochs=9"], tmp_path, name="abl")


def test_sfp_experiment_ablation_with_a_bad_key_is_one_line_and_writes_nothing(tmp_path, capsys):
    workdir = tmp_path / "ablation"
    assert main(["experiment", "ablation", "--workdir", str(workdir), "train.optim.epoch=2"]) == 2
    assert capsys.readouterr().err == "sfp: error: ablation: arches.slow-only: optim.epoch: unknown key\n"
    assert not workdir.exists()

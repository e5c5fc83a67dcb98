"""Every shipped recipe validates, and the paper's numbers are what the recipes say."""

from pathlib import Path

import pytest

from sfp.config import load_config
from sfp_train.recipe import TrainRecipe

RECIPES = sorted((Path(__file__).resolve().parents[2] / "configs" / "kinetics").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.stem)
def test_kinetics_recipes_validate_with_the_papers_schedule(path):
    recipe = load_config(TrainRecipe, path)
    assert recipe.optim.batch_size == 1024 and recipe.optim.peak_lr == pytest.approx(1.6)
    assert recipe.optim.warmup_epochs == 34 and recipe.optim.schedule == "cosine"
    assert recipe.optim.nesterov and recipe.optim.weight_decay == 1e-4 and recipe.model.dropout == 0.5
    assert recipe.data.test_temporal_views * recipe.data.test_spatial_crops == 30
    assert recipe.model.clip_frames == 32 and recipe.data.sampling_rate == 2
    assert recipe.micro_batch_size == 8


def test_the_recipes_cover_the_papers_models():
    assert {path.stem for path in RECIPES} >= {"slowfast_r50_8x8", "slowfast_r50_4x16", "slowfast_r101_8x8", "slow_only_r50_8x8"}


@pytest.mark.parametrize("command", ["train", "finetune-ava"])
@pytest.mark.parametrize("recipe_args", [[], ["a.yaml", "--config", "b.yaml"]])
def test_the_recipe_is_given_once_or_the_command_stops_before_any_work(command, recipe_args, capsys):
    from sfp.cli.main import main

    assert main([command, *recipe_args]) == 2
    assert capsys.readouterr().err.strip() == "sfp: error: give the recipe YAML once: positionally or with --config"

"""Every shipped recipe validates, and the paper's numbers are what the recipes say."""

from pathlib import Path

import pytest

from sfp.config import load_config, read_yaml, validate
from sfp_train.ablation import deep_merge
from sfp_train.ava.recipe import AvaRecipe
from sfp_train.models.config import ModelConfig
from sfp_train.recipe import TrainRecipe

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RECIPES = sorted((CONFIGS / "kinetics").glob("*.yaml"))


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
    from sfp_app.cli.main import main

    assert main([command, *recipe_args]) == 2
    assert capsys.readouterr().err.strip() == "sfp: error: give the recipe YAML once: positionally or with --config"


# The model every shipped YAML resolves to, field by field, as it was before the recipes referred to the presets.
R50_8X8 = {
    "arch": "slowfast", "depth": 50, "width": 64, "alpha": 4, "beta_inv": 8, "fusion_conv_channel_ratio": 2,
    "fusion_kernel_size": 7, "lateral": "time_strided_conv", "fusion": "concat", "slow_frames": 8, "dropout": 0.5,
    "task": "classification", "crop_size": 224, "roi_aligned": True, "channels_last": False, "compile": False,
}
R50_4X16 = {**R50_8X8, "alpha": 8, "slow_frames": 4, "fusion_kernel_size": 5}
R101_8X8 = {**R50_8X8, "depth": 101, "fusion_kernel_size": 5}
R50_AVA = {**R50_8X8, "task": "detection"}
SLOW_ONLY_R50 = {**R50_8X8, "arch": "slow_only"}
DEMO = {**R50_8X8, "depth": 18, "width": 8, "fusion_kernel_size": 5, "slow_frames": 4, "crop_size": 64}
PINNED = {
    "models/slowfast_r50_8x8.yaml": R50_8X8,
    "models/slowfast_r50_4x16.yaml": R50_4X16,
    "models/slowfast_r101_8x8.yaml": R101_8X8,
    "models/slowfast_r50_ava.yaml": R50_AVA,
    "models/slow_only_r50.yaml": SLOW_ONLY_R50,
    "kinetics/slowfast_r50_8x8.yaml": {**R50_8X8, "channels_last": True},
    "kinetics/slowfast_r50_4x16.yaml": {**R50_4X16, "channels_last": True},
    "kinetics/slowfast_r101_8x8.yaml": {**R101_8X8, "channels_last": True},
    "kinetics/slow_only_r50_8x8.yaml": SLOW_ONLY_R50,
    "ava/slowfast_r50_8x8.yaml": {**R50_AVA, "channels_last": True},
    "demo.yaml": DEMO,
    "ablation.yaml:slow-only": {**DEMO, "arch": "slow_only"},
    "ablation.yaml:fast-only": {**DEMO, "arch": "fast_only"},
    "ablation.yaml:slowfast": DEMO,
}


def resolved_models(name: str) -> dict[str, dict]:
    """`{name: model config}` of each model the YAML `configs/<name>` describes, resolved as its command does."""
    path = CONFIGS / name
    data = read_yaml(path)
    if "arches" in data:  # sfp experiment ablation: each architecture's model section on top of the base's
        base = read_yaml(path.parent / data["base"])["train"]["model"]
        return {
            f"{name}:{key}": validate(ModelConfig, deep_merge(base, arch["model"]), source=name).model_dump()
            for key, arch in data["arches"].items()
        }
    if "synth" in data:  # sfp demo
        return {name: validate(ModelConfig, data["train"]["model"], source=name).model_dump()}
    if set(data) == {"model"}:  # sfp model summary
        return {name: validate(ModelConfig, data["model"], source=name).model_dump()}
    if "init" in data:  # sfp finetune-ava
        return {name: load_config(AvaRecipe, path).model.model_dump()}
    return {name: load_config(TrainRecipe, path).model.model_dump()}  # sfp train


@pytest.mark.parametrize("name", sorted(PINNED))
def test_every_shipped_recipe_resolves_to_its_pinned_model(name):
    resolved = resolved_models(name.partition(":")[0])
    assert resolved[name] == PINNED[name]


def test_every_recipe_of_the_papers_models_is_pinned():
    shipped = {
        path.relative_to(CONFIGS).as_posix()
        for folder in ("models", "kinetics", "ava")
        for path in (CONFIGS / folder).glob("*.yaml")
    }
    assert shipped | {"demo.yaml", "ablation.yaml"} == {name.partition(":")[0] for name in PINNED}

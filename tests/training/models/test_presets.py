"""The published models are one table (`PRESETS`); sections, `preset_config` and the preset builders read it."""

import pytest
import torch
from pydantic import ValidationError

from sfp.config import validate
from sfp.errors import ConfigError
from sfp_train.models import PRESETS, ModelConfig, build_model, preset_config
from sfp_train.models import presets
from sfp_train.models.pytorchvideo_import import pytorchvideo_config


def test_each_preset_is_the_papers_model():
    assert preset_config("slowfast_r50_8x8") == ModelConfig()
    assert preset_config("slowfast_r50_4x16") == ModelConfig(slow_frames=4, alpha=8, fusion_kernel_size=5)
    assert preset_config("slowfast_r101_8x8") == ModelConfig(depth=101, fusion_kernel_size=5)
    assert preset_config("slowfast_r50_ava") == ModelConfig(task="detection")
    assert preset_config("slow_only_r50") == ModelConfig(arch="slow_only")
    assert preset_config("fast_only_r50") == ModelConfig(arch="fast_only")
    assert sorted(PRESETS) == sorted(
        ["slowfast_r50_8x8", "slowfast_r50_4x16", "slowfast_r101_8x8", "slowfast_r50_ava", "slow_only_r50",
         "fast_only_r50"]
    )
    assert {name: preset_config(name).clip_frames for name in PRESETS} == dict.fromkeys(PRESETS, 32)


def test_a_sections_own_keys_override_its_preset():
    config = validate(ModelConfig, {"preset": "slowfast_r50_4x16", "depth": 101, "channels_last": True})
    assert (config.depth, config.alpha, config.slow_frames, config.channels_last) == (101, 8, 4, True)
    assert "preset" not in config.model_dump()  # a resolved config has every field and no preset
    assert ModelConfig(**config.model_dump()) == config
    assert preset_config("slowfast_r50_8x8", depth=101).depth == 101


def test_an_unknown_preset_is_one_line_naming_the_known_ones():
    with pytest.raises(ConfigError) as error:
        validate(ModelConfig, {"preset": "x3d_m"}, source="recipe.yaml: model")
    assert str(error.value) == (
        "recipe.yaml: model: <root>: preset: unknown model 'x3d_m'; known: slowfast_r50_8x8,"
        " slowfast_r50_4x16, slowfast_r101_8x8, slowfast_r50_ava, slow_only_r50, fast_only_r50"
    )
    with pytest.raises(ValidationError, match="unknown model"):
        preset_config("slowfast_r50")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_preset_builders_build_their_preset(name):
    builder = getattr(presets, name)
    num_classes = 80 if name == "slowfast_r50_ava" else 400
    with torch.device("meta"):
        ours = builder(crop_size=256).state_dict()
        expected = build_model(preset_config(name, crop_size=256), num_classes).state_dict()
    assert {key: value.shape for key, value in ours.items()} == {key: value.shape for key, value in expected.items()}


def test_the_pytorchvideo_archs_are_presets():
    assert pytorchvideo_config("slowfast_r50") == preset_config("slowfast_r50_8x8")
    assert pytorchvideo_config("slowfast_r101") == preset_config("slowfast_r101_8x8")
    assert pytorchvideo_config("slowfast_r50_detection") == preset_config("slowfast_r50_ava", roi_aligned=False)

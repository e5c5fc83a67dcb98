import pytest

from sfp.config import validate
from sfp.errors import ConfigError
from sfp_train.recipe import OptimConfig, TrainRecipe
from sfp_train.schedule import learning_rate

BASE = {"name": "r", "data": {"framestore": "/tmp/x", "crop_size": 224}}


def test_learning_rate_scales_linearly_with_the_global_batch():
    assert OptimConfig(batch_size=1024).peak_lr == pytest.approx(1.6)
    assert OptimConfig(batch_size=64).peak_lr == pytest.approx(0.1)


def test_warmup_then_half_period_cosine():
    optim = OptimConfig(batch_size=1024, epochs=196, warmup_epochs=34)
    assert learning_rate(optim, 0) == pytest.approx(0.01)
    assert learning_rate(optim, 34) == pytest.approx(1.6 * 0.5 * (1 + __import__("math").cos(__import__("math").pi * 34 / 196)))
    assert learning_rate(optim, 17) == pytest.approx((0.01 + learning_rate(optim, 34)) / 2)
    assert learning_rate(optim, 196) == pytest.approx(0.0, abs=1e-12)
    values = [learning_rate(optim, epoch) for epoch in range(34, 197)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_step_schedule():
    optim = OptimConfig(batch_size=64, schedule="steps", step_epochs=[10, 15], warmup_epochs=0, epochs=20)
    assert [learning_rate(optim, e) for e in (0, 10, 15)] == pytest.approx([0.1, 0.01, 0.001])


def test_global_batch_must_split_over_workers():
    with pytest.raises(ConfigError, match="not divisible"):
        validate(TrainRecipe, {**BASE, "optim": {"batch_size": 9}, "scaling": {"num_workers": 2}})
    recipe = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 64}, "scaling": {"num_workers": 4},
                                    "engine": {"grad_accumulation": 2}})
    assert recipe.micro_batch_size == 8


def test_model_and_data_crop_must_agree():
    with pytest.raises(ConfigError, match="crop_size"):
        validate(TrainRecipe, {**BASE, "model": {"crop_size": 112}})

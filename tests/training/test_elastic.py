"""Elastic worker counts, the recipe side: the micro batch is fixed, each worker accumulates `batch / (workers x micro
batch)` micro batches, so the global batch and the steps per epoch are the recipe's at any number of workers. The
run that changes its number of workers (2 -> 1, after a killed worker) is `test_fault_tolerance.py`'s.
"""

from __future__ import annotations

import pytest

from sfp.config import validate
from sfp.errors import ConfigError
from sfp_train.engine import deepspeed_config
from sfp_train.recipe import TrainRecipe, grad_accumulation
from sfp_train.trainer import _num_workers

BASE = {"name": "r", "data": {"framestore": "/tmp/x", "crop_size": 224}}


# --- the accumulation for each number of workers (no Ray) ---

def test_accumulation_keeps_the_global_batch_at_every_world_size():
    assert [grad_accumulation(12, 2, workers) for workers in (1, 2, 3, 6)] == [6, 3, 2, 1]
    with pytest.raises(ValueError, match="optim.batch_size 12 is not divisible by 4 workers x micro batch 2"):
        grad_accumulation(12, 2, 4)


def test_elastic_recipe_fixes_the_micro_batch_and_derives_the_accumulation():
    recipe = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 12},
                                    "scaling": {"num_workers": 3, "min_workers": 1},
                                    "engine": {"zero_stage": 0, "grad_accumulation": 2}})
    assert recipe.scaling.elastic and list(recipe.scaling.world_sizes) == [1, 2, 3]
    assert recipe.micro_batch_size == 2  # sized for num_workers x grad_accumulation
    assert [recipe.grad_accumulation_at(workers) for workers in (1, 2, 3)] == [6, 3, 2]
    config = deepspeed_config(recipe.engine, recipe.optim, recipe.micro_batch_size, 6)
    assert (config["train_batch_size"], config["train_micro_batch_size_per_gpu"],
            config["gradient_accumulation_steps"]) == (12, 2, 6)

    assert _num_workers(recipe) == (1, 3)  # Ray Train's elastic form

    fixed = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 8}, "scaling": {"num_workers": 2},
                                   "engine": {"grad_accumulation": 2}})
    assert not fixed.scaling.elastic and list(fixed.scaling.world_sizes) == [2] and _num_workers(fixed) == 2
    assert fixed.grad_accumulation_at(2) == fixed.engine.grad_accumulation == 2
    one_count = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 8},
                                       "scaling": {"num_workers": 2, "min_workers": 2}})
    assert not one_count.scaling.elastic and _num_workers(one_count) == 2  # ZeRO stage 1 stays allowed


@pytest.mark.parametrize("overrides, message", [
    ({"scaling": {"num_workers": 2, "min_workers": 3}, "engine": {"zero_stage": 0}},
     r"^config: scaling: Value error, min_workers 3 is larger than num_workers 2$"),
    ({"scaling": {"num_workers": 2, "min_workers": 0}, "engine": {"zero_stage": 0}},
     r"^config: scaling.min_workers: Input should be greater than or equal to 1"),
    ({"optim": {"batch_size": 8}, "scaling": {"num_workers": 4, "min_workers": 2}, "engine": {"zero_stage": 0}},
     r"optim.batch_size 8 cannot be split at 3 workers \(scaling.min_workers 2 to num_workers 4\): not divisible "
     r"by 3 x the micro batch 2$"),
    ({"optim": {"batch_size": 8}, "scaling": {"num_workers": 2, "min_workers": 1}, "engine": {"zero_stage": 1}},
     r"engine.zero_stage 1 with scaling.min_workers: elastic runs need zero_stage 0, since DeepSpeed cannot reload "
     r"ZeRO-partitioned optimiser state at another number of workers$"),
])
def test_elastic_recipe_errors_are_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        validate(TrainRecipe, {**BASE, **overrides})
    assert "\n" not in str(error.value)

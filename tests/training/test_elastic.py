"""Elastic worker counts, the recipe side: the micro batch is fixed, each worker accumulates `round(batch / (workers x
micro batch))` micro batches (halves up, at least 1); the global batch is the recipe's where that divides, the nearest
one elsewhere, with the learning rate scaled linearly and an epoch kept at the recipe's clips. The run that changes its
number of workers (2 -> 1, 2 being a count that does not divide the batch) is `test_fault_tolerance.py`'s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sfp.config import load_config, validate
from sfp.errors import ConfigError, SfpError
from sfp_train.engine import deepspeed_config
from sfp_train.recipe import TrainRecipe, elastic_batch
from sfp_train.schedule import learning_rate
from sfp_train.trainer import _num_workers, steps_per_epoch

BASE = {"name": "r", "data": {"framestore": "/tmp/x", "crop_size": 224}}
K400 = Path(__file__).resolve().parents[2] / "configs" / "kinetics" / "slowfast_r50_8x8.yaml"


# --- the accumulation for each number of workers (no Ray) ---

def test_accumulation_is_the_nearest_whole_number_of_micro_batches():
    assert [elastic_batch(12, 2, workers).accumulation for workers in (1, 2, 3, 6)] == [6, 3, 2, 1]
    assert all(elastic_batch(12, 2, workers).exact for workers in (1, 2, 3, 6))
    four, five = elastic_batch(12, 2, 4), elastic_batch(12, 2, 5)  # 12 / 8 = 1.5 (a half: up), 12 / 10 = 1.2
    assert (four.accumulation, four.global_batch, four.lr_scale, four.exact) == (2, 16, 16 / 12, False)
    assert (five.accumulation, five.global_batch, five.lr_scale) == (1, 10, 10 / 12)
    assert elastic_batch(12, 2, 7).accumulation == 1  # never 0: 12 / 14 rounds to 1
    assert four.describe() == ("4 workers x micro batch 2 x 2 accumulated = global batch 16 (recipe: 12); "
                               "learning rate x 1.333")


# the paper's batch 1024 at micro batch 8, one worker per GPU, on whole 8-GPU nodes: accumulation, global batch, and
# the optimiser steps of a Kinetics-400 epoch (240k clips: 234 recipe batches, 239,616 clips)
WHOLE_NODES = {
    8: (16, 1024, 234), 16: (8, 1024, 234), 24: (5, 960, 249), 32: (4, 1024, 234), 40: (3, 960, 249),
    48: (3, 1152, 208), 56: (2, 896, 267), 64: (2, 1024, 234), 72: (2, 1152, 208), 80: (2, 1280, 187),
    88: (1, 704, 340), 96: (1, 768, 312), 104: (1, 832, 288), 112: (1, 896, 267), 120: (1, 960, 249),
    128: (1, 1024, 234),
}


def test_batch_1024_at_every_whole_node_count_from_8_to_128_gpus():
    recipe = load_config(TrainRecipe, K400, ["scaling.min_workers=8", "scaling.num_workers=128",
                                             "engine.grad_accumulation=1"])  # validation accepts the whole range
    assert recipe.micro_batch_size == 8 and list(recipe.scaling.world_sizes) == list(range(8, 129))
    recipe_steps = steps_per_epoch(recipe, 240_000)
    assert recipe_steps == 234
    for gpus, (accumulation, global_batch, steps) in WHOLE_NODES.items():
        batch = recipe.batch_at(gpus)
        assert (batch.accumulation, batch.global_batch, batch.steps_per_epoch(recipe_steps)) == (
            accumulation, global_batch, steps), gpus
        assert batch.lr_scale == global_batch / 1024 and batch.exact == (global_batch == 1024)
        assert recipe.grad_accumulation_at(gpus) == accumulation
        # an epoch reads at most the recipe's epoch of clips, and less than one global batch fewer
        assert 234 * 1024 - global_batch < steps * global_batch <= 234 * 1024
    # the non-dividing counts the old rule refused: 24 and 40 GPUs (3 and 5 nodes) train at 960
    assert [recipe.batch_at(gpus).global_batch for gpus in (24, 40)] == [960, 960]


def test_the_schedule_scales_with_the_global_batch_and_keeps_its_epoch_positions():
    optim = load_config(TrainRecipe, K400).optim
    for epoch in (0.0, 10.5, 34.0, 100.0, 195.9):
        assert learning_rate(optim, epoch, 960) == pytest.approx(learning_rate(optim, epoch) * 960 / 1024)
    assert learning_rate(optim, 0, 960) == pytest.approx(0.01 * 960 / 1024)  # warm-up start
    peak_at = max((learning_rate(optim, e / 10, 1280), e / 10) for e in range(0, 1961))[1]
    assert peak_at == 34.0 and learning_rate(optim, 34.0, 1280) == pytest.approx(learning_rate(optim, 34.0) * 1.25)
    assert learning_rate(optim, 196, 704) == pytest.approx(0.0, abs=1e-12)  # the cosine ends at the same epoch
    assert learning_rate(optim, 50, 1024) == learning_rate(optim, 50)


def test_elastic_recipe_fixes_the_micro_batch_and_derives_the_accumulation():
    recipe = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 12},
                                    "scaling": {"num_workers": 3, "min_workers": 1},
                                    "engine": {"zero_stage": 0, "grad_accumulation": 2}})
    assert recipe.scaling.elastic and list(recipe.scaling.world_sizes) == [1, 2, 3]
    assert recipe.micro_batch_size == 2  # sized for num_workers x grad_accumulation
    assert [recipe.grad_accumulation_at(workers) for workers in (1, 2, 3)] == [6, 3, 2]
    config = deepspeed_config(recipe.engine, recipe.micro_batch_size, 6)
    # DeepSpeed derives the global batch (micro x accumulation x workers): it need not be the recipe's
    assert "train_batch_size" not in config
    assert (config["train_micro_batch_size_per_gpu"], config["gradient_accumulation_steps"]) == (2, 6)

    assert _num_workers(recipe) == (1, 3)  # Ray Train's elastic form

    fixed = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 8}, "scaling": {"num_workers": 2},
                                   "engine": {"grad_accumulation": 2}})
    assert not fixed.scaling.elastic and list(fixed.scaling.world_sizes) == [2] and _num_workers(fixed) == 2
    assert fixed.grad_accumulation_at(2) == fixed.engine.grad_accumulation == 2
    one_count = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 8},
                                       "scaling": {"num_workers": 2, "min_workers": 2}})
    assert not one_count.scaling.elastic and _num_workers(one_count) == 2  # ZeRO stage 1 stays allowed


def test_a_range_with_counts_that_do_not_divide_the_batch_is_accepted():
    recipe = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 8},
                                    "scaling": {"num_workers": 4, "min_workers": 2}, "engine": {"zero_stage": 0}})
    assert [(b.accumulation, b.global_batch) for b in map(recipe.batch_at, (2, 3, 4))] == [(2, 8), (1, 6), (1, 8)]


def test_every_count_in_the_range_needs_one_global_batch_of_clips():
    recipe = validate(TrainRecipe, {**BASE, "optim": {"batch_size": 6},
                                    "scaling": {"num_workers": 6, "min_workers": 4}, "engine": {"zero_stage": 0}})
    assert steps_per_epoch(recipe, 8) == 1  # 4 workers: batch 8, 2 clips each of 8 // 4
    with pytest.raises(SfpError, match=r"^7 training clips is less than one global batch of 8 at 4 workers \(the "
                                       r"nearest to optim.batch_size 6 there\); lower optim.batch_size or raise "
                                       r"scaling.min_workers$"):
        steps_per_epoch(recipe, 7)


@pytest.mark.parametrize("overrides, message", [
    ({"scaling": {"num_workers": 2, "min_workers": 3}, "engine": {"zero_stage": 0}},
     r"^config: scaling: min_workers 3 is larger than num_workers 2$"),
    ({"scaling": {"num_workers": 2, "min_workers": 0}, "engine": {"zero_stage": 0}},
     r"^config: scaling.min_workers: Input should be greater than or equal to 1"),
    ({"optim": {"batch_size": 8}, "scaling": {"num_workers": 2, "min_workers": 1}, "engine": {"zero_stage": 1}},
     r"engine.zero_stage 1 with scaling.min_workers: elastic runs need zero_stage 0, since DeepSpeed cannot reload "
     r"ZeRO-partitioned optimiser state at another number of workers$"),
])
def test_elastic_recipe_errors_are_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        validate(TrainRecipe, {**BASE, **overrides})
    assert "\n" not in str(error.value)

"""A run resumed from a checkpoint written within an epoch ends with the same optimiser steps and the same weights
as the uninterrupted run: the real loop pieces (`loop.epoch_batches` over the seeded feed from a frame store through
Ray Data and the worker-side decoder, `loop.train_epoch` with its learning-rate schedule and per-step seeding,
`loop.step_checkpoints`' cadence, the DeepSpeed engine's state save and load), in this process as one gloo worker,
with dropout on so that the model's own random numbers are covered too. Through Ray Train, `test_fault_tolerance.py`
resumes a killed run from such a checkpoint."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist

from sfp.framestore import FrameStore
from sfp_train import engine as engines
from sfp_train.data.pipeline import train_decoder, train_feed
from sfp_train.loop import epoch_batches, train_epoch
from sfp_train.models.config import build_model
from sfp_train.recipe import TrainRecipe
from sfp_train.tasks import ClassificationTask

pytestmark = pytest.mark.slow
CPU = torch.device("cpu")
EPOCHS, STEPS = 2, 4  # 8 clips, global batch 2


@pytest.fixture(scope="module")
def store(tmp_path_factory, write_store, noise) -> FrameStore:
    rng = np.random.default_rng(0)
    clips = [(f"c{n}", n % 2, "train", noise(rng, 12, 40, 56)) for n in range(8)]
    return write_store(tmp_path_factory.mktemp("resume"), clips, ["k0", "k1"], width=56, height=40)


@pytest.fixture(scope="module")
def process_group():
    """A one-process gloo group, shared with other modules of the session and left up: DeepSpeed caches its groups,
    so one destroyed and made again breaks the next engine."""
    if not dist.is_initialized():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
        dist.init_process_group("gloo", rank=0, world_size=1)


def tiny_recipe(store: FrameStore) -> TrainRecipe:
    return TrainRecipe.model_validate({
        "name": "resume", "seed": 3,
        "data": {"framestore": store.uri, "train_short_side": [32, 40], "crop_size": 32, "test_short_side": 32,
                 "test_crop_size": 32, "loader_batch_size": 2},
        "model": {"depth": 18, "width": 8, "slow_frames": 4, "alpha": 2, "fusion_kernel_size": 3, "crop_size": 32,
                  "dropout": 0.5},
        "optim": {"epochs": EPOCHS, "batch_size": 2, "warmup_epochs": 0, "weight_decay": 0.0},
        "engine": {"precision": "fp32"}, "scaling": {"num_workers": 1},
        "checkpoint": {"every_n_steps": 3},
    })


def new_engine(recipe: TrainRecipe, init_seed: int):
    torch.manual_seed(init_seed)
    model = build_model(recipe.model, num_classes=2)
    return engines.build_engine(model, engine=recipe.engine, optim=recipe.optim, micro_batch_size=2, device=CPU)


def train(recipe, store, model_engine, *, epoch: int, start_step: int, after_step=None) -> None:
    feed, decoder = train_feed(store, recipe.data, num_frames=8, seed=recipe.seed), train_decoder(
        recipe.data, arch="slowfast", alpha=2)
    batches = epoch_batches(feed, epoch, start_step=start_step, steps=STEPS, micro_batch=2, accumulation=1,
                            device=CPU, decoder=decoder, feed="dataset")
    train_epoch(model_engine, batches, recipe, ClassificationTask(["k0", "k1"]), epoch, STEPS, CPU, "fp32", None,
                start_step=start_step, after_step=after_step)


def test_resuming_within_an_epoch_gives_the_uninterrupted_weights(ray_cluster, process_group, store, tmp_path):
    torch.set_num_threads(1)
    recipe = tiny_recipe(store)
    uninterrupted = new_engine(recipe, init_seed=recipe.seed)
    saved = []

    def checkpoint_at_step_3(step_in_epoch: int) -> None:  # the cadence `step_checkpoints` keeps: global step 3
        if uninterrupted.global_steps % recipe.checkpoint.every_n_steps == 0 and step_in_epoch < STEPS:
            engines.save_engine_state(uninterrupted, str(tmp_path))
            saved.append((0, step_in_epoch, uninterrupted.global_steps))

    train(recipe, store, uninterrupted, epoch=0, start_step=0, after_step=checkpoint_at_step_3)
    train(recipe, store, uninterrupted, epoch=1, start_step=0)
    assert saved == [(0, 3, 3)] and uninterrupted.global_steps == EPOCHS * STEPS

    resumed = new_engine(recipe, init_seed=recipe.seed + 1)  # other initial weights: the load must set them
    engines.load_engine_state(resumed, str(tmp_path))
    assert resumed.global_steps == 3
    train(recipe, store, resumed, epoch=0, start_step=3)
    train(recipe, store, resumed, epoch=1, start_step=0)
    assert resumed.global_steps == uninterrupted.global_steps
    expected = uninterrupted.module.state_dict()
    for name, value in resumed.module.state_dict().items():
        torch.testing.assert_close(value, expected[name], rtol=0, atol=0, msg=name)


def test_two_runs_of_a_recipe_give_the_same_weights_and_another_seed_others(ray_cluster, process_group, store):
    torch.set_num_threads(1)
    recipe = tiny_recipe(store)
    weights = []
    for seed in (recipe.seed, recipe.seed, recipe.seed + 1):
        seeded = recipe.model_copy(update={"seed": seed})
        model_engine = new_engine(seeded, init_seed=0)  # same initial weights: only the data order and draws differ
        train(seeded, store, model_engine, epoch=0, start_step=0)
        weights.append(model_engine.module.state_dict())
    first, again, other = weights
    for name in first:
        torch.testing.assert_close(again[name], first[name], rtol=0, atol=0, msg=name)
    assert any(not torch.equal(other[name], first[name]) for name in first if first[name].is_floating_point())


def test_a_checkpoint_within_an_epoch_resumes_at_its_share_of_the_epoch_at_another_global_batch(store):
    from sfp_train.checkpoints import TrainState, resumed_step

    recipe = TrainRecipe.model_validate({
        "name": "elastic", "data": {"framestore": store.uri}, "optim": {"batch_size": 1024},
        "engine": {"grad_accumulation": 8, "zero_stage": 0}, "scaling": {"num_workers": 16, "min_workers": 8},
    })
    state = TrainState(epoch=5, global_step=1000, recipe={}, world_size=24, step_in_epoch=100)  # 24 GPUs: batch 960
    assert recipe.batch_at(24).global_batch == 960
    assert resumed_step(state, recipe, global_batch=1024) == 100 * 960 // 1024  # the same clips done, in 1024s
    assert resumed_step(state, recipe, global_batch=960) == 100
    assert resumed_step(TrainState(5, 1000, {}, 24), recipe, global_batch=1024) == 0  # an epoch's end

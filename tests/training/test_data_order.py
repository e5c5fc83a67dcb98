"""The seeded training order (`sfp_train.data.order`): each epoch is one permutation of the rows, cut into global
batches that the workers share without overlap; a clip's augmentation depends on its epoch and position only."""

import numpy as np
import pytest

from sfp_train.data.order import epoch_order, row_rng, worker_positions


@pytest.mark.parametrize("world_size, micro_batch, accumulation", [(1, 2, 3), (2, 1, 2), (4, 2, 1), (3, 1, 1)])
def test_the_workers_share_each_global_batch_without_overlap(world_size, micro_batch, accumulation):
    steps, global_batch = 5, world_size * micro_batch * accumulation
    shares = [worker_positions(rank=rank, world_size=world_size, micro_batch=micro_batch, accumulation=accumulation,
                               start_step=0, steps=steps) for rank in range(world_size)]
    assert sorted(np.concatenate(shares).tolist()) == list(range(steps * global_batch))
    for share in shares:  # each micro batch of a worker lies inside its optimiser step's global batch
        steps_of = share.reshape(steps, accumulation * micro_batch) // global_batch
        assert (steps_of == np.arange(steps).reshape(-1, 1)).all()


def test_a_resumed_epoch_reads_what_the_uninterrupted_one_read_from_that_step():
    arguments = dict(rank=1, world_size=2, micro_batch=2, accumulation=2)
    whole = worker_positions(start_step=0, steps=6, **arguments)
    assert worker_positions(start_step=4, steps=6, **arguments).tolist() == whole[4 * 4:].tolist()


def test_the_order_and_the_augmentation_draw_from_seed_epoch_and_position():
    assert epoch_order(50, 7, 3).tolist() == epoch_order(50, 7, 3).tolist()
    assert sorted(epoch_order(50, 7, 3).tolist()) == list(range(50))
    assert epoch_order(50, 7, 3).tolist() != epoch_order(50, 7, 4).tolist() != epoch_order(50, 8, 3).tolist()
    batch = {"epoch": np.array([2, 2, 3]), "position": np.array([10, 11, 10])}
    draws = [row_rng(0, batch, row).random(4).tolist() for row in range(3)]
    assert draws[0] == row_rng(0, {"epoch": np.array([2]), "position": np.array([10])}, 0).random(4).tolist()
    assert draws[0] != draws[1] and draws[0] != draws[2]
    assert row_rng(None, batch, 0).random() != row_rng(None, batch, 0).random()  # unseeded: fresh entropy

"""The training data order, drawn from the recipe's seed and the epoch: which clips each worker reads in which
order, and the random numbers of each clip's augmentation.

Each epoch is one permutation of the training rows (`epoch_order(seed, epoch)`), cut into the run's global batches:
optimiser step `s` trains on positions `s x G ... (s + 1) x G - 1` (`G` = workers x micro batch x accumulation), and
within it worker `r`'s `m`-th micro batch holds the `micro batch` positions from `s x G + (m x workers + r) x micro
batch` (`worker_positions`). A row's augmentation (window, scale, crop, flip) draws from
`np.random.default_rng((seed, epoch, position))` (`row_rng`). So two runs of one recipe on one layout see the same
clips, augmented the same way, in the same order, and a run resumed at step `s` of an epoch reads exactly the rows the
uninterrupted run read from there.

Every worker builds its own share as a small Ray Dataset each epoch (`SeededFeed.epoch_dataset`) with Ray Data's
order preserved, rather than one dataset split across workers as they ask for blocks, whose assignment depends on
timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

EPOCH_COLUMN, POSITION_COLUMN = "epoch", "position"


def epoch_order(num_rows: int, seed: int, epoch: int) -> np.ndarray:
    """The epoch's permutation of `num_rows` training rows."""
    return np.random.default_rng((seed, epoch)).permutation(num_rows)


def worker_positions(*, rank: int, world_size: int, micro_batch: int, accumulation: int, start_step: int,
                     steps: int) -> np.ndarray:
    """Positions in the epoch's order that worker `rank` trains on from optimiser step `start_step` to `steps`, in
    micro-batch order."""
    global_batch = world_size * micro_batch * accumulation
    step = np.arange(start_step, steps).reshape(-1, 1, 1)
    micro = np.arange(accumulation).reshape(1, -1, 1)
    offset = np.arange(micro_batch).reshape(1, 1, -1)
    return (step * global_batch + (micro * world_size + rank) * micro_batch + offset).reshape(-1)


def row_rng(seed: int | None, batch: dict[str, np.ndarray], position: int) -> np.random.Generator:
    """The random numbers of one row's augmentation: seeded by its epoch and position where the row carries them
    (training through `SeededFeed`), fresh entropy otherwise."""
    if seed is None or POSITION_COLUMN not in batch:
        return np.random.default_rng()
    return np.random.default_rng((seed, int(batch[EPOCH_COLUMN][position]), int(batch[POSITION_COLUMN][position])))


@dataclass(frozen=True)
class SeededFeed:
    """A worker's training rows for an epoch as a Ray Dataset of loaded clips (picklable: it travels in the loop
    config). `rows` are the index rows (clip locations, or AVA keyframe positions); `loader` is the map function
    that reads them (`TrainClipLoader`, `TrainKeyframeLoader`), seeded with the same `seed` (`row_rng`)."""

    rows: list[dict[str, Any]]
    loader: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    seed: int
    loader_batch_size: int
    loader_cpus: float

    def epoch_dataset(self, epoch: int, *, rank: int, world_size: int, micro_batch: int, accumulation: int,
                      start_step: int, steps: int):
        from sfp_train.data.pipeline import index_dataset

        order = epoch_order(len(self.rows), self.seed, epoch)
        positions = worker_positions(rank=rank, world_size=world_size, micro_batch=micro_batch,
                                     accumulation=accumulation, start_step=start_step, steps=steps)
        items = [{**self.rows[order[position % len(order)]], EPOCH_COLUMN: epoch, POSITION_COLUMN: int(position)}
                 for position in positions]  # an epoch longer than the rows (a small set, rounding) wraps around
        dataset = index_dataset(items).map_batches(self.loader, batch_size=self.loader_batch_size,
                                                   num_cpus=self.loader_cpus)
        dataset.context.execution_options.preserve_order = True
        return dataset

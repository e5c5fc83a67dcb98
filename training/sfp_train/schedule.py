"""Learning-rate schedule of the recipe, as a pure function of the (fractional) epoch."""

from __future__ import annotations

import math

from sfp_train.recipe import OptimConfig


def learning_rate(optim: OptimConfig, epoch: float, batch_size: int | None = None) -> float:
    """Linear warm-up from `warmup_start_factor * peak` to the schedule's value, then cosine or steps.

    `batch_size`: the run's global batch when it is not the recipe's (an elastic run at a number of workers that does
    not divide it, `sfp_train.recipe.ElasticBatch`): the paper's linear rule, `lr_per_64 x batch / 64`, scales the
    whole schedule by `batch_size / optim.batch_size`; its epoch positions do not move."""
    peak = optim.lr_per_64 * (batch_size or optim.batch_size) / 64

    def scheduled(at: float) -> float:
        if optim.schedule == "steps":
            drops = sum(1 for boundary in optim.step_epochs if at >= boundary)
            return peak * optim.step_gamma**drops
        floor = peak * optim.min_lr_factor
        return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * at / optim.epochs))

    if epoch < optim.warmup_epochs:
        start = peak * optim.warmup_start_factor
        end = scheduled(optim.warmup_epochs)
        return start + (end - start) * epoch / optim.warmup_epochs
    return scheduled(epoch)

"""Learning-rate schedule of the recipe, as a pure function of the (fractional) epoch."""

from __future__ import annotations

import math

from sfp_train.recipe import OptimConfig


def learning_rate(optim: OptimConfig, epoch: float) -> float:
    """Linear warm-up from `warmup_start_factor * peak` to the schedule's value, then cosine or steps."""
    peak = optim.peak_lr

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

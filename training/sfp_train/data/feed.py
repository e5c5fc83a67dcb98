"""The training worker's side of the input pipeline: batches from its Ray Data shard onto its device.

Ray Data's own pattern for a Ray Train worker: `iter_torch_batches` prefetches `PREFETCH_BATCHES` batches on a
background thread, collates them into pinned host memory (on a GPU worker) and copies them to the device there
without blocking, so the copy of the next batch overlaps the current step.
"""

from __future__ import annotations

from typing import Iterable

import torch

PREFETCH_BATCHES = 2


def device_batches(shard, batch_size: int, device: torch.device, *, drop_last: bool = False) -> Iterable[dict]:
    """The shard's batches as `{column: tensor on device}`, prefetched and copied ahead of the step."""
    return shard.iter_torch_batches(
        batch_size=batch_size,
        drop_last=drop_last,
        prefetch_batches=PREFETCH_BATCHES,
        device=device,
        pin_memory=device.type == "cuda",
    )

"""The training worker's side of the input pipeline: batches of JPEG bytes from its Ray Data shard, decoded on its
device.

Ray Data's pattern for a Ray Train worker: `iter_torch_batches` with a collate function. Ray runs the collate
function on `PREFETCH_BATCHES` background threads, so while the model steps on one batch the next ones are decoded
(`device_decode.ClipDecoder`: nvJPEG and RoIAlign on a GPU, libjpeg-turbo and PyTorch's CPU kernels here, which
release the GIL). What crosses from the host to the device is the compressed frames, not float tensors.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from ray.data.collate_fn import NumpyBatchCollateFn

from sfp_train.data.device_decode import ClipDecoder

PREFETCH_BATCHES = 2


class DecodeOnDevice(NumpyBatchCollateFn):
    """Ray Data collate function: a numpy batch of sampled JPEG frames -> model inputs on `device`."""

    def __init__(self, decoder: ClipDecoder, device: torch.device) -> None:
        self.decoder, self.device = decoder, device

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return self.decoder(batch, self.device)


def device_batches(shard, batch_size: int, device: torch.device, decoder: ClipDecoder, *,
                   drop_last: bool = False) -> Iterable[dict]:
    """The shard's (or dataset's) batches as `{column: tensor on device}`, decoded ahead of the step."""
    return shard.iter_torch_batches(
        batch_size=batch_size,
        drop_last=drop_last,
        prefetch_batches=PREFETCH_BATCHES,
        collate_fn=DecodeOnDevice(decoder, device),
        device=device,
    )

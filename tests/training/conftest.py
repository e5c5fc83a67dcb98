"""Fixtures of the training tests: small real frame stores written with the frame-store writer, no Ray."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pytest
from PIL import Image

from sfp.framestore import EncodedClip, FrameStore, finalize_store, shard_name_for, write_shard

StoreWriter = Callable[..., FrameStore]


def noise_jpegs(rng: np.random.Generator, count: int, height: int, width: int) -> list[bytes]:
    """`count` JPEG frames of uniform noise (quality 90): every frame, and every clip, different."""
    frames = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buffer, format="JPEG",
                                                                                       quality=90)
        frames.append(buffer.getvalue())
    return frames


@pytest.fixture(scope="session")
def write_store() -> StoreWriter:
    """`write_store(folder, clips, classes, width=, height=)` -> a committed one-shard store of `clips`, each
    `(clip_id, label_id, split, jpeg frames)` at `width x height`, 30 fps."""

    def write(folder: Path, clips: Sequence[tuple[str, int, str, list[bytes]]], classes: list[str], *, width: int,
              height: int, frames_per_row_group: int = 16) -> FrameStore:
        encoded = [EncodedClip(clip_id=clip_id, label=classes[label_id], label_id=label_id, split=split,
                               source_path=f"{clip_id}.mp4", start_sec=None, end_sec=None, fps=30.0, width=width,
                               height=height, frames=frames, timestamps=[i / 30 for i in range(len(frames))])
                   for clip_id, label_id, split, frames in clips]
        uri = str(folder / "store")
        shard, records = write_shard(uri, shard_name_for([clip.clip_id for clip in encoded]), encoded,
                                     frames_per_row_group=frames_per_row_group)
        finalize_store(uri, shards=[shard], records=records, errors=[], classes=classes, source_rows=len(encoded),
                       source={}, decode={}, code_version="test")
        return FrameStore.open(uri)

    return write


@pytest.fixture(scope="session")
def noise() -> Callable[..., list[bytes]]:
    return noise_jpegs

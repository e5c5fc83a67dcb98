"""From one clip to the list of pathway inputs that `SlowFast.forward` takes.

The data pipeline samples one clip of `ModelConfig.clip_frames = slow_frames * alpha` frames for every architecture
(32 frames at stride 2 for the 8x8 recipe) and calls `pathway_inputs(frames, arch, alpha)` once:

- `slowfast`: `[slow, fast]`, where fast is the whole clip and slow takes `T // alpha` of its frames, at the indices
  `torch.linspace(0, T - 1, T // alpha).long()`, exactly as PySlowFast's `PackPathway` (for T = 32, alpha = 4:
  frames 0, 4, 8, 13, 17, 22, 26, 31);
- `slow_only`: `[slow]`, the same subsampled frames, so a Slow-only 8x8 model sees 8 frames at stride 8;
- `fast_only`: `[fast]`, the whole clip.

Frames are `[C, T, H, W]` or batched `[B, C, T, H, W]`; time is always dimension -3.
"""

from __future__ import annotations

from typing import Literal

import torch

Arch = Literal["slowfast", "slow_only", "fast_only"]


def slow_indices(num_frames: int, alpha: int) -> torch.Tensor:
    """Indices of the frames the Slow pathway keeps out of `num_frames`."""
    if alpha < 1 or num_frames < alpha:
        raise ValueError(f"a clip of {num_frames} frames is too short for alpha={alpha}")
    return torch.linspace(0, num_frames - 1, num_frames // alpha).long()


def pack_pathways(frames: torch.Tensor, alpha: int) -> list[torch.Tensor]:
    """`[C, T, H, W]` (or `[B, C, T, H, W]`) -> `[slow, fast]` with `T // alpha` and `T` frames."""
    if frames.ndim not in (4, 5):
        raise ValueError(f"frames must be [C, T, H, W] or [B, C, T, H, W], got shape {tuple(frames.shape)}")
    index = slow_indices(frames.shape[-3], alpha).to(frames.device)
    return [frames.index_select(-3, index), frames]


def pathway_inputs(frames: torch.Tensor, arch: Arch, alpha: int) -> list[torch.Tensor]:
    """The model input list for `arch` from one clip (or batch of clips) of `slow_frames * alpha` frames."""
    if arch == "slowfast":
        return pack_pathways(frames, alpha)
    if arch == "slow_only":
        return pack_pathways(frames, alpha)[:1]
    if arch == "fast_only":
        return [frames]
    raise ValueError(f"unknown arch {arch!r}")


def pathway_shapes(
    *, arch: Arch, clip_frames: int, alpha: int, crop_size: int, batch_size: int = 1, channels: int = 3
) -> list[tuple[int, ...]]:
    """Shapes of `pathway_inputs` for a batch of clips `[batch_size, channels, clip_frames, crop, crop]`."""
    slow = (batch_size, channels, clip_frames // alpha, crop_size, crop_size)
    fast = (batch_size, channels, clip_frames, crop_size, crop_size)
    return {"slowfast": [slow, fast], "slow_only": [slow], "fast_only": [fast]}[arch]

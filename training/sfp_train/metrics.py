"""Top-k accuracy counts, summed across workers before dividing."""

from __future__ import annotations

import torch


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> torch.Tensor:
    """How many of the batch have their label among the top-k scores, for each k (k capped at the class count), as
    a tensor on the logits' device: counting needs no host synchronisation."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top.eq(labels.view(-1, 1))
    return torch.stack([hits[:, : min(k, logits.shape[1])].any(dim=1).sum() for k in ks])

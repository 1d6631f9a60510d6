"""Word dropout: during training, each real token becomes ``<unk>`` with probability ``p``.

The model thereby learns what to do with words it has no embedding for, which is what it
meets at test time (Iyyer et al. 2015; Lample et al. 2016 replace singletons the same way).
"""

from __future__ import annotations

import torch
from torch import Tensor


def drop_words(ids: Tensor, p: float, unk_id: int, training: bool) -> Tensor:
    """``ids (B, T)`` with each non-padding id (≠ 0) replaced by ``unk_id`` with probability
    ``p`` in training; ``ids`` itself when ``p == 0`` or in evaluation."""
    if p == 0.0 or not training:
        return ids
    dropped = (torch.rand(ids.shape, device=ids.device) < p) & (ids != 0)  # (B, T)
    return ids.masked_fill(dropped, unk_id)

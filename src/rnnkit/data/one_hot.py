"""Ids → one-hot vectors."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def one_hot(ids: torch.Tensor | Sequence[int], num_classes: int) -> torch.Tensor:
    """FloatTensor ``(*ids.shape, num_classes)`` with a 1 at each id, e.g. ``(B, T)`` → ``(B, T, V)``."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be an int >= 1, got {num_classes!r}")
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= num_classes):
        raise ValueError(
            f"one_hot: ids must lie in [0, {num_classes}), "
            f"got values from {int(ids.min())} to {int(ids.max())}"
        )
    return torch.nn.functional.one_hot(ids, num_classes).float()

"""Tokens → ids (with optional sentence markers) and ids → one-hot vectors."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rnnkit.text import Vocab


def encode(
    tokens: Sequence[str], vocab: Vocab, *, bos: bool = False, eos: bool = False
) -> list[int]:
    """Ids of ``tokens``, wrapped in ``<s>`` … ``</s>`` when ``bos``/``eos`` are set.

    >>> vocab = Vocab.build([["what", "are", "n't"]])
    >>> encode(["what", "are"], vocab, bos=True, eos=True)
    [2, 4, 5, 3]
    """
    ids = vocab.encode(tokens)
    if bos:
        ids.insert(0, vocab.bos_id)
    if eos:
        ids.append(vocab.eos_id)
    return ids


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

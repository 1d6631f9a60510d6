"""Copies of token sequences with random positions masked: with the spans of
:mod:`rnnkit.data.spans`, the inputs a teacher labels when a classifier is distilled
(``rnnkit train classify --teacher … --masked-copies K``; the masking augmentation of Tang et
al., 2019). What a masked position becomes is the caller's choice (the classifier: the
unknown word, without subword features)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class MaskedCopy(NamedTuple):
    text: int  # index of the sequence copied
    masked: tuple[int, ...]  # its masked positions, ascending


def sample_masked_copies(lengths: Sequence[int], copies: int, prob: float,
                         seed: int) -> list[MaskedCopy]:
    """``copies`` copies of each non-empty sequence, each position masked independently with
    probability ``prob``, drawn with ``seed``; in sequence order.

    A copy may mask no position (it is then the sequence itself) or all of them.

    >>> [tuple(copy) for copy in sample_masked_copies([3, 0, 2], copies=2, prob=0.5, seed=0)]
    [(0, (1, 2)), (0, (0,)), (2, ()), (2, ())]
    """
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"sample_masked_copies: copies must be an int >= 1, got {copies!r}")
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 < prob <= 1:
        raise ValueError(f"sample_masked_copies: prob must be in (0, 1], got {prob!r}")
    rng = np.random.default_rng(seed)
    masked_copies: list[MaskedCopy] = []
    for text, n in enumerate(lengths):
        if n == 0:
            continue
        draws = rng.random((copies, n)) < prob  # (copies, n): True where masked
        masked_copies.extend(MaskedCopy(text, tuple(np.flatnonzero(row).tolist()))
                             for row in draws)
    return masked_copies

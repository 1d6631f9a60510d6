"""Random contiguous spans of token sequences: the phrases a teacher model labels when a
classifier is distilled (``rnnkit train classify --teacher``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

MIN_SPAN = 2


class Span(NamedTuple):
    text: int  # index of the sequence the span comes from
    start: int  # first token
    stop: int  # one past the last token


def sample_spans(lengths: Sequence[int], per_text: int, seed: int) -> list[Span]:
    """Up to ``per_text`` distinct proper spans of each sequence, drawn with ``seed``.

    A span of a sequence of ``n`` tokens has ``MIN_SPAN`` to ``n - 1`` tokens (the whole
    sequence is not a span), its length drawn uniformly, then its start; draws that repeat an
    earlier span of the same sequence are dropped, so a short sequence may give fewer.
    Sequences of fewer than ``MIN_SPAN + 1`` tokens give none.

    >>> sample_spans([2, 3], per_text=4, seed=0)
    [Span(text=1, start=0, stop=2), Span(text=1, start=1, stop=3)]
    """
    if isinstance(per_text, bool) or not isinstance(per_text, int) or per_text < 1:
        raise ValueError(f"sample_spans: per_text must be an int >= 1, got {per_text!r}")
    rng = np.random.default_rng(seed)
    spans: list[Span] = []
    for text, n in enumerate(lengths):
        if n <= MIN_SPAN:
            continue
        sizes = rng.integers(MIN_SPAN, n, size=per_text)  # in [MIN_SPAN, n - 1]
        starts = (rng.random(per_text) * (n - sizes + 1)).astype(int)  # in [0, n - size]
        seen: set[tuple[int, int]] = set()
        for start, size in zip(starts.tolist(), sizes.tolist()):
            if (start, size) not in seen:
                seen.add((start, size))
                spans.append(Span(text, start, start + size))
    return sorted(spans)

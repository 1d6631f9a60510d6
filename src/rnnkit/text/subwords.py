"""Subword features: a token's character n-grams hashed into a fixed number of buckets.

As in fastText (Bojanowski et al., 2017): the token is wrapped in ``<`` and ``>`` so that
prefixes and suffixes differ from inner n-grams (``<un``, ``ly>``), every character n-gram
with ``min_n ≤ n ≤ max_n`` is taken, and each is hashed with 32-bit FNV-1a over its UTF-8
bytes into ``1..buckets`` (0 stays free for padding). A word never seen in training, or seen
too rarely to get its own vocabulary entry, still gets the n-grams it shares with known words.

>>> hasher = SubwordHasher(buckets=1000, min_n=3, max_n=4)
>>> hasher.ngrams("cat")
['<ca', 'cat', 'at>', '<cat', 'cat>']
>>> len(hasher.ids("cat")), all(1 <= i <= 1000 for i in hasher.ids("cat"))
(5, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
CACHE_TOKENS = 1 << 18
"""Distinct tokens whose ids a :class:`SubwordHasher` keeps (a few tens of MB at most); past
that the cache starts over, so a long-running predictor's memory stays bounded."""


def fnv1a_32(data: bytes) -> int:
    """32-bit FNV-1a hash of ``data``: stable across processes and platforms, unlike
    ``hash(str)``."""
    value = FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return value


class SubwordHasher:
    """Maps a token to the bucket ids ``(1..buckets)`` of its character n-grams; the ids of
    each distinct token are computed once and cached (up to :data:`CACHE_TOKENS` tokens)."""

    def __init__(self, buckets: int, min_n: int = 3, max_n: int = 5) -> None:
        for name, value in (("buckets", buckets), ("min_n", min_n), ("max_n", max_n)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SubwordHasher: {name} must be an int >= 1, got {value!r}")
        if min_n > max_n:
            raise ValueError(f"SubwordHasher: min_n={min_n} must not exceed max_n={max_n}")
        self.buckets, self.min_n, self.max_n = buckets, min_n, max_n
        self._cache: dict[str, tuple[int, ...]] = {}

    def ngrams(self, token: str) -> list[str]:
        """The character n-grams of ``<token>``, shortest first; none when ``<token>`` is
        shorter than ``min_n``."""
        wrapped = f"<{token}>"
        return [wrapped[start:start + n]
                for n in range(self.min_n, self.max_n + 1)
                for start in range(len(wrapped) - n + 1)]

    def ids(self, token: str) -> tuple[int, ...]:
        """Bucket ids of :meth:`ngrams` ``(token)``, each in ``1..buckets``."""
        cached = self._cache.get(token)
        if cached is None:
            cached = tuple(fnv1a_32(gram.encode("utf-8")) % self.buckets + 1
                           for gram in self.ngrams(token))
            if len(self._cache) >= CACHE_TOKENS:
                self._cache.clear()
            self._cache[token] = cached
        return cached

    def encode(self, tokens: Sequence[str]) -> list[tuple[int, ...]]:
        """:meth:`ids` of each token."""
        return [self.ids(token) for token in tokens]

    def config(self) -> dict[str, Any]:
        return {"buckets": self.buckets, "min_n": self.min_n, "max_n": self.max_n}

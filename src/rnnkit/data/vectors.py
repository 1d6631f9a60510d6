"""Pretrained word vectors (word2vec or GloVe text files) aligned with a :class:`Vocab`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.readers import iter_lines
from rnnkit.text import Vocab


@dataclass(frozen=True)
class PretrainedVectors:
    """``weights`` FloatTensor ``(V, E)`` in vocabulary order (ready for
    ``nn.Embedding.from_pretrained``); ``found`` vocabulary tokens had a vector, the
    ``missing`` ones (specials excluded) were drawn at random, and ``<pad>`` is all zeros."""

    weights: torch.Tensor
    found: int
    missing: list[str]

    @property
    def coverage(self) -> float:
        """Share of the non-special vocabulary that had a vector."""
        total = self.found + len(self.missing)
        return self.found / total if total else 0.0


def load_vectors(
    path: str | os.PathLike,
    vocab: Vocab,
    *,
    lowercase_fallback: bool = True,
    scale: float | None = None,
    seed: int = 0,
) -> PretrainedVectors:
    """Read a word-vector text file (``token v1 ... vD`` per line; word2vec's ``count dim``
    first line is recognised and skipped) and keep the vectors of ``vocab``'s tokens.

    The dimension D is taken from the first vector line and every line must match it (a
    token may hold spaces, as in GloVe 840B: the last D fields are the vector). With
    ``lowercase_fallback`` a token without an exact entry takes its lowercase form's vector.
    Rows without a vector are drawn from N(0, scale²), ``scale`` defaulting to the standard
    deviation of the vectors found; the ``<pad>`` row is zero. Only the rows kept are held in
    memory.
    """
    path = Path(path)
    exact: dict[str, np.ndarray] = {}
    lowered: dict[str, np.ndarray] = {}
    wanted = set(vocab.tokens)
    wanted_lower = {token.lower() for token in vocab.tokens} if lowercase_fallback else set()
    dim = None
    for line_number, line in iter_lines(path):
        if dim is None:
            fields = line.split()
            if line_number == 1 and len(fields) == 2 and all(field.isdigit() for field in fields):
                continue  # word2vec header: "count dim"
            dim = len(fields) - 1
            if dim < 1:
                raise ValueError(
                    f"{path}:{line_number}: expected 'token v1 ... vD', got {line[:50]!r}"
                )
        if not line.strip():
            continue
        fields = line.rstrip().rsplit(" ", dim)
        token = fields[0]
        if len(fields) != dim + 1:
            raise ValueError(
                f"{path}:{line_number}: expected a token and {dim} values (as in the first "
                f"vector line), got {len(fields) - 1} values"
            )
        if token not in wanted and token not in wanted_lower:
            continue
        try:
            vector = np.array(fields[1:], dtype=np.float32)
        except ValueError:
            raise ValueError(
                f"{path}:{line_number}: the values of {token!r} are not numbers"
            ) from None
        if token in wanted:
            exact[token] = vector
        if token in wanted_lower:
            lowered.setdefault(token, vector)
    if dim is None:
        raise ValueError(f"load_vectors: {path} holds no vectors (the file is empty)")
    return _align(vocab, dim, exact, lowered, scale, seed)


def _align(
    vocab: Vocab,
    dim: int,
    exact: dict[str, np.ndarray],
    lowered: dict[str, np.ndarray],
    scale: float | None,
    seed: int,
) -> PretrainedVectors:
    weights = np.zeros((len(vocab), dim), dtype=np.float32)  # (V, E)
    has_vector = np.zeros(len(vocab), dtype=bool)  # (V,)
    specials = set(vocab.specials)
    found = 0
    missing = []
    for index, token in enumerate(vocab.tokens):
        vector = exact.get(token)
        if vector is None:
            vector = lowered.get(token.lower())
        if vector is not None:
            weights[index] = vector
            has_vector[index] = True
            found += token not in specials
        elif token not in specials:
            missing.append(token)
    if scale is None:
        scale = float(weights[has_vector].std()) if has_vector.any() else 1.0
    drawn = ~has_vector
    drawn[vocab.pad_id] = False
    rng = np.random.default_rng(seed)
    weights[drawn] = rng.normal(0.0, scale, size=(int(drawn.sum()), dim))
    weights[vocab.pad_id] = 0.0
    return PretrainedVectors(torch.from_numpy(weights), found, missing)

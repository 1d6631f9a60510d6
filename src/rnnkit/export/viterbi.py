"""A linear-chain CRF's decoding and loss in numpy, over a tagger graph's emissions and the
transition scores an export keeps in ``crf.npz`` (see :mod:`rnnkit.models.crf` for the
model; forbidden moves there already hold ``FORBIDDEN``).

Shapes use the package's letters (see :mod:`rnnkit`): ``B``, ``T`` padded steps, ``C`` tags.
"""

from __future__ import annotations

import numpy as np

from rnnkit.decoding import backtrack


def _logsumexp(values: np.ndarray, axis: int) -> np.ndarray:
    peak = values.max(axis=axis, keepdims=True)
    return (np.log(np.exp(values - peak).sum(axis=axis, keepdims=True)) + peak).squeeze(axis)


def viterbi(emissions: np.ndarray, lengths: np.ndarray, transitions: np.ndarray,
            start: np.ndarray, end: np.ndarray) -> list[list[int]]:
    """The best tag path of each sequence, cut to its length.

        δ_1(j) = start[j] + e_1[j]
        δ_t(j) = max_i (δ_{t-1}(i) + A[i, j]) + e_t[j],  ψ_t(j) = argmax_i (…)
        y_T = argmax_j (δ_T(j) + end[j]),  y_{t-1} = ψ_t(y_t)

    ``emissions (B, T, C)``, ``lengths (B,)`` (each ≥ 1), ``transitions (C, C)`` (row: the
    previous tag), ``start (C,)``, ``end (C,)``; past a sequence's length δ stays as it was.
    """
    delta = start + emissions[:, 0]  # (B, C)
    pointers = []
    for t in range(1, emissions.shape[1]):
        candidates = delta[:, :, None] + transitions  # (B, C_prev, C_next)
        pointer = candidates.argmax(axis=1)  # (B, C)
        best = candidates.max(axis=1)  # (B, C)
        delta = np.where((t < lengths)[:, None], best + emissions[:, t], delta)
        pointers.append(pointer)
    last_tags = (delta + end).argmax(axis=1)  # (B,)
    return backtrack(last_tags.tolist(), pointers, lengths.tolist())


def negative_log_likelihood(emissions: np.ndarray, lengths: np.ndarray, tags: np.ndarray,
                            transitions: np.ndarray, start: np.ndarray,
                            end: np.ndarray) -> np.ndarray:
    """``-log p(y | x) = log Z - s(y)`` of gold ``tags (B, T)`` per sequence, ``(B,)``:

        s(y)  = start[y_1] + Σ_t e_t[y_t] + Σ_{t≥2} A[y_{t-1}, y_t] + end[y_T]
        α_1   = start + e_1,  α_t(j) = logsumexp_i (α_{t-1}(i) + A[i, j]) + e_t[j]
        log Z = logsumexp_j (α_T(j) + end[j])
    """
    steps = np.arange(emissions.shape[1])[None, :] < lengths[:, None]  # (B, T)
    emitted = np.take_along_axis(emissions, tags[:, :, None], axis=-1)[:, :, 0]  # (B, T)
    score = start[tags[:, 0]] + (emitted * steps).sum(axis=1)  # (B,)
    moves = transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
    score = score + (moves * steps[:, 1:]).sum(axis=1)
    score = score + end[tags[np.arange(len(tags)), lengths - 1]]
    alpha = start + emissions[:, 0]  # (B, C)
    for t in range(1, emissions.shape[1]):
        step = _logsumexp(alpha[:, :, None] + transitions, axis=1) + emissions[:, t]
        alpha = np.where(steps[:, t:t + 1], step, alpha)  # (B, C)
    return _logsumexp(alpha + end, axis=1) - score

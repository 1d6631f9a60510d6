"""The next token of a language model's generation in numpy, as :mod:`rnnkit.models.sampling`
chooses it in torch, for the onnxruntime path.

Greedy decoding takes the same argmax, so it gives the same tokens as the torch path.
Sampling applies the same temperature, bans, top-k and top-p (:class:`SamplingConfig`) and so
draws from the same distribution, but with numpy's ``Generator``: a seed reproduces the
onnxruntime path's samples, not the torch path's draws.
"""

from __future__ import annotations

import numpy as np

from rnnkit.sampling_config import SamplingConfig


def softmax(logits: np.ndarray) -> np.ndarray:
    """``exp(x - max) / Σ exp(x - max)`` over the last axis (``-inf`` entries get 0)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def filter_logits(logits: np.ndarray, config: SamplingConfig) -> np.ndarray:
    """Apply temperature, bans, top-k and top-p to float32 ``logits (B, V)`` (a copy);
    removed entries are -inf."""
    logits = logits.astype(np.float32) / np.float32(config.temperature)  # (B, V)
    if config.banned_ids:
        logits[:, list(config.banned_ids)] = -np.inf
    if config.top_k is not None and config.top_k < logits.shape[-1]:
        kth = -np.sort(-logits, axis=-1)[:, config.top_k - 1:config.top_k]  # (B, 1)
        logits = np.where(logits < kth, -np.inf, logits).astype(np.float32)
    if config.top_p is not None and config.top_p < 1:
        order = np.argsort(-logits, axis=-1, kind="stable")  # (B, V), most likely first
        sorted_logits = np.take_along_axis(logits, order, axis=-1)
        probabilities = softmax(sorted_logits)
        # Drop a token when the tokens before it already reach top_p; the first always stays.
        drop_sorted = (probabilities.cumsum(axis=-1) - probabilities) >= config.top_p
        drop = np.empty_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=-1)
        logits = np.where(drop, -np.inf, logits).astype(np.float32)
    return logits


def next_tokens(logits: np.ndarray, config: SamplingConfig,
                generator: np.random.Generator) -> np.ndarray:
    """One step's choice from ``logits (B, V)``: the argmax, or a draw after
    :func:`filter_logits`; int64 ``(B,)`` token ids."""
    filtered = filter_logits(logits, config)
    if config.greedy:
        return filtered.argmax(axis=-1).astype(np.int64)
    probabilities = softmax(filtered.astype(np.float64))  # (B, V)
    return np.asarray([generator.choice(len(row), p=row) for row in probabilities],
                      dtype=np.int64)

"""Attention over the steps of a padded sequence, with padding never attended.

Shapes use the package's letters (see :mod:`rnnkit`): ``B``, ``T`` steps of the attended
sequence, ``M`` feature size of the attended states, ``Q`` query size, ``A`` attention size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last axis where ``mask`` is True; exactly 0 where it is False.

    ``scores`` ``(..., T)``, ``mask`` BoolTensor broadcastable to it. Every row must have at
    least one True position (an all-padding row has no distribution).
    """
    if mask.dtype != torch.bool:
        raise TypeError(f"masked_softmax: mask must be a BoolTensor, got {mask.dtype}")
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)  # exp(-inf) = 0 at padding


class AttentionPooling(nn.Module):
    """Additive self-attention pooling (Yang et al. 2016) of a sequence into one vector.

    ``e_t = v^T tanh(W h_t + b)``, ``α = softmax(e)`` over the valid steps, ``s = Σ_t α_t h_t``.
    """

    def __init__(self, input_size: int, attention_size: int) -> None:
        super().__init__()
        self.project = nn.Linear(input_size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def forward(self, states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``states (B, T, M)``, ``mask (B, T)`` → pooled ``(B, M)`` and weights ``(B, T)``."""
        scores = self.score(torch.tanh(self.project(states))).squeeze(-1)  # (B, T)
        weights = masked_softmax(scores, mask)  # (B, T)
        pooled = torch.bmm(weights.unsqueeze(1), states).squeeze(1)  # (B, 1, T)@(B, T, M) → (B, M)
        return pooled, weights


class AdditiveAttention(nn.Module):
    """Bahdanau et al. (2015): ``e_s = v^T tanh(W_q q + W_k k_s)``, ``α = softmax(e)`` over the
    valid source steps, context ``c = Σ_s α_s k_s``."""

    def __init__(self, query_size: int, key_size: int, attention_size: int) -> None:
        super().__init__()
        self.query = nn.Linear(query_size, attention_size, bias=False)
        self.key = nn.Linear(key_size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``query (B, Q)``, ``keys (B, T, M)``, ``mask (B, T)`` → context ``(B, M)``, weights
        ``(B, T)``."""
        hidden = torch.tanh(self.query(query).unsqueeze(1) + self.key(keys))  # (B, T, A)
        weights = masked_softmax(self.score(hidden).squeeze(-1), mask)  # (B, T)
        return torch.bmm(weights.unsqueeze(1), keys).squeeze(1), weights  # (B, M), (B, T)


class MultiplicativeAttention(nn.Module):
    """Luong et al. (2015), "general": ``e_s = q^T W k_s``, ``α = softmax(e)`` over the valid
    source steps, context ``c = Σ_s α_s k_s``."""

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.key = nn.Linear(key_size, query_size, bias=False)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``query (B, Q)``, ``keys (B, T, M)``, ``mask (B, T)`` → context ``(B, M)``, weights
        ``(B, T)``."""
        scores = torch.bmm(self.key(keys), query.unsqueeze(2)).squeeze(2)  # (B, T, Q)@(B, Q, 1)
        weights = masked_softmax(scores, mask)  # (B, T)
        return torch.bmm(weights.unsqueeze(1), keys).squeeze(1), weights  # (B, M), (B, T)

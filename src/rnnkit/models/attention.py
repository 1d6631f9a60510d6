"""Attention over the steps of a padded sequence, with padding never attended.

Shape letters: ``B`` batch, ``T`` steps of the attended sequence, ``H`` feature size of the
attended states, ``A`` attention (hidden) size.
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
        """``states (B, T, H)``, ``mask (B, T)`` → pooled ``(B, H)`` and weights ``(B, T)``."""
        scores = self.score(torch.tanh(self.project(states))).squeeze(-1)  # (B, T)
        weights = masked_softmax(scores, mask)  # (B, T)
        pooled = torch.bmm(weights.unsqueeze(1), states).squeeze(1)  # (B, 1, T)@(B, T, H) → (B, H)
        return pooled, weights

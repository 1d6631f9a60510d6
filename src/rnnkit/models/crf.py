"""A linear-chain conditional random field over per-step tag scores, with BIO/BIOES
transition constraints.

Shapes use the package's letters (see :mod:`rnnkit`): ``B``, ``T`` padded steps, ``C`` tags.
Masks are True at real steps and right-padded (each sequence's steps come first, at least one
per sequence).

The score of a tag path ``y_1..y_T`` for emissions ``e`` (the tagger's per-step scores) is

    s(y) = start[y_1] + Σ_{t=1..T} e_t[y_t] + Σ_{t=2..T} A[y_{t-1}, y_t] + end[y_T]

and ``p(y | x) = exp(s(y)) / Z`` with ``Z = Σ_y' exp(s(y'))`` over all C^T paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnkit.decoding import backtrack

SCHEMES = ("BIO", "BIOES", "none")
FORBIDDEN = -10000.0  # score of a forbidden transition: exp() of it underflows to 0 in float32


def _split(tag: str) -> tuple[str, str]:
    """``("B", "PER")`` for ``B-PER``; ``("O", "")`` for ``O`` and anything without a prefix."""
    prefix, _, kind = tag.partition("-")
    return (prefix, kind) if kind and prefix in ("B", "I", "E", "S") else ("O", "")


def _may_follow(previous: str, current: str, scheme: str) -> bool:
    (p, p_kind), (c, c_kind) = _split(previous), _split(current)
    if scheme == "BIO":
        return c != "I" or (p in ("B", "I") and p_kind == c_kind)
    # BIOES: inside an entity (after B or I) only I or E of the same kind may come.
    if p in ("B", "I"):
        return c in ("I", "E") and p_kind == c_kind
    return c in ("O", "B", "S")


def allowed_transitions(tags: Sequence[str], scheme: str) -> tuple[Tensor, Tensor, Tensor]:
    """BoolTensors ``(C, C)`` (row: previous tag, column: next tag), ``(C,)`` allowed first
    tags and ``(C,)`` allowed last tags for a tagging ``scheme``.

    BIO (IOB2): ``I-X`` only after ``B-X`` or ``I-X``, never first. BIOES: after ``B-X``/``I-X``
    only ``I-X``/``E-X``; ``I``/``E`` never first, ``B``/``I`` never last. ``none``: all allowed.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"CRF: scheme must be one of {SCHEMES}, got {scheme!r}")
    size = len(tags)
    if scheme == "none":
        return (torch.ones(size, size, dtype=torch.bool), torch.ones(size, dtype=torch.bool),
                torch.ones(size, dtype=torch.bool))
    transitions = torch.tensor([[_may_follow(p, c, scheme) for c in tags] for p in tags])
    start = torch.tensor([_may_follow("O", tag, scheme) for tag in tags])
    if scheme == "BIO":
        end = torch.ones(size, dtype=torch.bool)
    else:
        end = torch.tensor([_split(tag)[0] not in ("B", "I") for tag in tags])
    return transitions, start, end


class CRF(nn.Module):
    """Learned transition scores ``A (C, C)``, ``start (C,)``, ``end (C,)``; forbidden
    transitions (from :func:`allowed_transitions`) are fixed at :data:`FORBIDDEN`."""

    def __init__(self, num_tags: int, tags: Sequence[str] | None = None,
                 scheme: str = "none") -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"CRF: num_tags must be >= 1, got {num_tags}")
        if tags is not None and len(tags) != num_tags:
            raise ValueError(f"CRF: expected {num_tags} tag names, got {len(tags)}")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        names = tags if tags is not None else [str(index) for index in range(num_tags)]
        allowed, start_allowed, end_allowed = allowed_transitions(names, scheme)
        self.register_buffer("allowed", allowed, persistent=False)
        self.register_buffer("start_allowed", start_allowed, persistent=False)
        self.register_buffer("end_allowed", end_allowed, persistent=False)

    def scores(self) -> tuple[Tensor, Tensor, Tensor]:
        """The transition ``(C, C)``, start ``(C,)`` and end ``(C,)`` scores in use: the
        learned ones, with forbidden moves set to :data:`FORBIDDEN`."""
        forbid = torch.tensor(FORBIDDEN, device=self.transitions.device)
        return (torch.where(self.allowed, self.transitions, forbid),  # (C, C)
                torch.where(self.start_allowed, self.start, forbid),  # (C,)
                torch.where(self.end_allowed, self.end, forbid))  # (C,)

    def _check(self, emissions: Tensor, mask: Tensor) -> None:
        if emissions.dim() != 3 or emissions.shape[-1] != self.num_tags:
            raise ValueError(f"CRF: expected emissions of shape (B, T, {self.num_tags}), got "
                             f"{tuple(emissions.shape)}")
        if mask.shape != emissions.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(f"CRF: expected a bool mask of shape {tuple(emissions.shape[:2])}, "
                             f"got {mask.dtype} {tuple(mask.shape)}")
        if not bool(mask[:, 0].all()):
            raise ValueError("CRF: every sequence needs at least one step (mask[:, 0] all True)")

    def path_score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """``s(y)`` of the given tag paths: FloatTensor ``(B,)``."""
        transitions, start, end = self.scores()
        steps = mask.to(emissions.dtype)  # (B, T)
        emitted = emissions.gather(-1, tags.unsqueeze(-1)).squeeze(-1)  # (B, T)
        score = start[tags[:, 0]] + (emitted * steps).sum(dim=1)  # (B,)
        moves = transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
        score = score + (moves * steps[:, 1:]).sum(dim=1)
        last = mask.sum(dim=1) - 1  # (B,)
        return score + end[tags.gather(1, last.unsqueeze(1)).squeeze(1)]

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """``log Z`` by the forward algorithm: FloatTensor ``(B,)``.

            α_1(j) = start[j] + e_1[j]
            α_t(j) = logsumexp_i (α_{t-1}(i) + A[i, j]) + e_t[j]     (kept at α_{t-1} past the end)
            log Z  = logsumexp_j (α_T(j) + end[j])
        """
        self._check(emissions, mask)
        transitions, start, end = self.scores()
        alpha = start + emissions[:, 0]  # (B, C)
        for t in range(1, emissions.shape[1]):
            # (B, C, 1) + (C, C) → (B, C_prev, C_next), reduced over the previous tag
            step = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)  # (B, C)
        return torch.logsumexp(alpha + end, dim=1)  # (B,)

    def log_likelihood(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """``log p(y | x) = s(y) - log Z``: FloatTensor ``(B,)``."""
        return self.path_score(emissions, tags, mask) - self.log_partition(emissions, mask)

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor) -> list[list[int]]:
        """The best tag path of each sequence (Viterbi), cut to its length.

            δ_1(j) = start[j] + e_1[j]
            δ_t(j) = max_i (δ_{t-1}(i) + A[i, j]) + e_t[j],  ψ_t(j) = argmax_i (…)
            y_T = argmax_j (δ_T(j) + end[j]),  y_{t-1} = ψ_t(y_t)
        """
        self._check(emissions, mask)
        transitions, start, end = self.scores()
        delta = start + emissions[:, 0]  # (B, C)
        pointers = []
        for t in range(1, emissions.shape[1]):
            best, pointer = (delta.unsqueeze(2) + transitions).max(dim=1)  # (B, C) each
            delta = torch.where(mask[:, t].unsqueeze(1), best + emissions[:, t], delta)
            pointers.append(pointer)
        last_tags = (delta + end).argmax(dim=1)  # (B,)
        return backtrack(last_tags.tolist(), pointers, mask.sum(dim=1).tolist())

"""Random masks for the stochastic options, drawn once per forward pass.

Drawing them before any kernel runs makes every kernel a deterministic function of
(inputs, weights, noise): the reference loop and the fast kernels see the same masks.

- ``input_dropout`` (Keras ``dropout``) and ``recurrent_dropout`` are *variational*
  (Gal & Ghahramani 2016): one mask per sequence and direction, reused at every step.
- ``zoneout`` draws a keep-previous mask per unit and step; in evaluation it is the
  deterministic expectation, ``p ⊙ previous + (1 - p) ⊙ new``.
- ``weight_drop`` (DropConnect on ``W_hh``, Merity et al. 2017) drops recurrent weights once
  per forward pass.
- :func:`dropout` (and :class:`Dropout`) is plain inverted dropout, a fresh mask element by
  element of its input, drawn by :func:`keep_mask`: ``1[u >= p] / (1 - p)`` with
  ``u ~ U[0, 1)``, so an element is kept with probability ``1 - p`` as with
  ``bernoulli_(1 - p)`` (torch's CPU dropout), and a forward and backward costs about half of
  torch's (see ``benchmarks/RESULTS.md``, "dropout masks"). The masks above are drawn once per sequence or weight, small against a
  ``(B, T, ·)`` activation, and keep ``bernoulli_``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.nn.config import CellConfig


@dataclass(frozen=True)
class DirectionNoise:
    """The masks of one layer and direction for one forward pass.

    ``input_mask (B, I)`` and ``recurrent_mask (B, H_out)`` are scaled by ``1 / (1 - p)``;
    ``zoneout_h (T, B, H_out)`` and ``zoneout_c (T, B, H)`` are 0/1 keep-previous masks in
    training, the probability itself in evaluation, and ``0.0`` when zoneout is off.
    """

    input_mask: Tensor | None = None
    recurrent_mask: Tensor | None = None
    zoneout_h: Tensor | float = 0.0
    zoneout_c: Tensor | float = 0.0


def keep_mask(shape: tuple[int, ...] | torch.Size, p: float, like: Tensor) -> Tensor:
    """An inverted-dropout mask of ``shape`` (dtype and device of ``like``): ``m = 1[u >= p] /
    (1 - p)``, ``u ~ U[0, 1)`` — 0 with probability ``p``, else ``1 / (1 - p)``; ``p < 1``."""
    uniform = torch.rand(shape, dtype=like.dtype, device=like.device)
    return uniform.ge_(p).mul_(1 / (1 - p))


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Inverted dropout of ``x`` (any shape): ``x ⊙ m`` with a fresh :func:`keep_mask` in
    training (``p = 1`` drops everything), ``x`` itself otherwise — the distribution of
    ``torch.nn.functional.dropout``, with a cheaper mask draw."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if p == 0.0 or not training:
        return x
    if p == 1.0:
        return x * 0.0
    return x * keep_mask(x.shape, p, x)


class Dropout(nn.Module):
    """:func:`dropout` as a module (``torch.nn.Dropout``'s interface, without ``inplace``):
    active in training mode, the identity in evaluation."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def variational_mask(batch: int, size: int, p: float, like: Tensor) -> Tensor:
    """A ``(B, size)`` inverted-dropout mask: 0 with probability ``p``, else ``1 / (1 - p)``."""
    keep = torch.empty(batch, size, dtype=like.dtype, device=like.device).bernoulli_(1 - p)
    return keep / (1 - p)


def _zoneout_mask(steps: int, batch: int, size: int, p: float, training: bool, like: Tensor):
    if p == 0.0:
        return 0.0
    if not training:
        return p
    shape = (steps, batch, size)
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(p)


def sample_noise(
    cell: CellConfig, steps: int, batch: int, training: bool, like: Tensor
) -> DirectionNoise:
    """Draw the masks one direction needs for a ``(T, B, ·)`` pass; ``like`` sets dtype/device."""
    input_mask = recurrent_mask = None
    if training and cell.input_dropout > 0:
        input_mask = variational_mask(batch, cell.input_size, cell.input_dropout, like)
    if training and cell.recurrent_dropout > 0:
        recurrent_mask = variational_mask(batch, cell.output_size, cell.recurrent_dropout, like)
    return DirectionNoise(
        input_mask=input_mask,
        recurrent_mask=recurrent_mask,
        zoneout_h=_zoneout_mask(steps, batch, cell.output_size, cell.zoneout_h, training, like),
        zoneout_c=_zoneout_mask(steps, batch, cell.hidden_size, cell.zoneout_c, training, like),
    )


def weight_mask(weight: Tensor, p: float) -> Tensor:
    """A DropConnect mask shaped like ``weight``: 0 with probability ``p``, else ``1 / (1 - p)``."""
    return torch.empty_like(weight).bernoulli_(1 - p) / (1 - p)


def drop_weight(weight: Tensor, p: float, training: bool) -> Tensor:
    """DropConnect: ``weight ⊙ mask`` in training, ``weight`` itself otherwise."""
    if p == 0.0 or not training:
        return weight
    return weight * weight_mask(weight.detach(), p)

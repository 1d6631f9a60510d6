"""Random masks for the stochastic options, drawn once per forward pass.

Drawing them before any kernel runs makes every kernel a deterministic function of
(inputs, weights, noise): the reference loop and the fast kernels see the same masks.

- ``input_dropout`` (Keras ``dropout``) and ``recurrent_dropout`` are *variational*
  (Gal & Ghahramani 2016): one mask per sequence and direction, reused at every step.
- ``zoneout`` draws a keep-previous mask per unit and step; in evaluation it is the
  deterministic expectation, ``p ⊙ previous + (1 - p) ⊙ new``.
- ``weight_drop`` (DropConnect on ``W_hh``, Merity et al. 2017) drops recurrent weights once
  per forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

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

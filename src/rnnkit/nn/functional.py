"""The recurrent math as pure functions: activations and one time step of each cell.

Shapes use the package's letters (see :mod:`rnnkit`): ``T``, ``B``, ``I``, ``H``, ``P``,
``H_out``, ``G``, ``D``, ``L``.

Weights follow torch.nn's layout: ``w_ih`` is ``(G*H, I)`` and ``w_hh`` is ``(G*H, H_out)``,
gates stacked along dim 0 in the order of :data:`rnnkit.nn.config.GATES`.

The input projection ``W_ih x_t + b_ih`` of every step is computed once, as one matmul over all
steps, by :func:`input_projection`; the step functions take its slice for step ``t``
(``x_proj``, ``(B, G*H)``) and do only the recurrent part.

With ``layer_norm`` the cell normalises each gate's pre-activation block over its ``H`` units,
separately for the input and the recurrent projection (gain only, the biases play the shift),
and an LSTM normalises ``c`` before its output activation (gain and shift), following
LayerNorm-LSTM (Ba, Kiros & Hinton 2016):
``gates = LN_ih(W_ih x) + b_ih + LN_hh(W_hh h) + b_hh``, ``h' = o ⊙ act(LN_c(c'))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.activations import ACTIVATIONS, Activation, get_activation
from rnnkit.nn.config import CellConfig

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "DirectionWeights",
    "gate_layer_norm",
    "get_activation",
    "gru_step",
    "input_projection",
    "lstm_step",
    "reverse_padded",
    "rnn_step",
    "zoneout",
]

LAYER_NORM_EPS = 1e-5


class DirectionWeights(NamedTuple):
    """The tensors of one layer and direction (torch.nn's names without the ``_l{k}`` suffix).

    ``ln_*`` are the layer-norm gains and shift (``None`` without ``layer_norm``); ``w_c*`` the
    peephole weights (``None`` without ``peephole``).
    """

    w_ih: Tensor  # (G*H, I)
    w_hh: Tensor  # (G*H, H_out)
    b_ih: Tensor | None = None  # (G*H,)
    b_hh: Tensor | None = None  # (G*H,)
    w_hr: Tensor | None = None  # (P, H)
    ln_ih: Tensor | None = None  # (G*H,)
    ln_hh: Tensor | None = None  # (G*H,)
    ln_c_weight: Tensor | None = None  # (H,)
    ln_c_bias: Tensor | None = None  # (H,)
    w_ci: Tensor | None = None  # (H,) peephole weights of an LSTM
    w_cf: Tensor | None = None  # (H,)
    w_co: Tensor | None = None  # (H,)


def gate_layer_norm(pre: Tensor, gain: Tensor, num_gates: int,
                    bias: Tensor | None = None) -> Tensor:
    """Layer-normalise each gate's block of ``pre`` over its H units, then scale by ``gain``
    (and add ``bias``, in the same op).

    ``pre`` is ``(..., G*H)``; ``LN(a) = gain ⊙ (a - mean(a)) / sqrt(var(a) + eps)`` per block.
    """
    hidden = pre.shape[-1] // num_gates
    blocks = pre.unflatten(-1, (num_gates, hidden))  # (..., G, H)
    normed = F.layer_norm(blocks, (hidden,), eps=LAYER_NORM_EPS).flatten(-2)  # (..., G*H)
    return normed * gain if bias is None else torch.addcmul(bias, normed, gain)


def input_projection(
    x: Tensor,
    weights: DirectionWeights,
    cell: CellConfig,
    product: Callable[[Tensor, Tensor, Tensor | None], Tensor] = F.linear,
    norm: Callable[[Tensor, Tensor, int, Tensor | None], Tensor] | None = None,
) -> Tensor:
    """``W_ih x_t + b_ih`` (``LN_ih(W_ih x_t) + b_ih`` with layer norm) for all steps at once:
    ``(T, B, I) -> (T, B, G*H)``.

    One matmul over the stacked steps instead of one per step: the input does not depend on
    the recurrence, so hoisting it out of the time loop is free and far faster. ``product(x,
    w, b)`` computes ``x · wᵀ + b`` (``b`` may be ``None``) and ``norm(pre, gain, G, b)`` the
    layer norm (default :func:`gate_layer_norm`); a kernel may pass faster ones.
    The bias is added in the same op as the product or the layer norm's gain: a separate
    ``(T, B, G*H)`` sum would cost one more pass and allocation that size.
    """
    if not cell.layer_norm:
        return product(x, weights.w_ih, weights.b_ih)  # (T, B, G*H)
    projected = product(x, weights.w_ih, None)  # (T, B, G*H)
    return (norm or gate_layer_norm)(projected, weights.ln_ih, cell.num_gates, weights.b_ih)


def _recurrent_projection(
    h: Tensor, w_hh: Tensor, b_hh: Tensor | None, gain: Tensor | None, num_gates: int
) -> Tensor:
    """``LN_hh(W_hh h) + b_hh``: ``(B, H_out) -> (B, G*H)`` (LN only when ``gain`` is given)."""
    projected = h.matmul(w_hh.t())
    if gain is not None:
        projected = gate_layer_norm(projected, gain, num_gates)
    if b_hh is not None:
        projected = projected + b_hh
    return projected


def rnn_step(
    x_proj: Tensor,
    h: Tensor,
    weights: DirectionWeights,
    cell: CellConfig,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One step of a vanilla (Elman) RNN.

    ``h' = act(W_ih x + b_ih + W_hh (h ⊙ m) + b_hh)`` with ``act`` tanh by default (torch's
    ``nonlinearity``, Keras' ``activation``) and ``m`` the recurrent-dropout mask (or 1).

    Args: ``x_proj (B, H)``, ``h (B, H)``. Returns ``h' (B, H)`` and ``()``: no gates.
    """
    h_in = h if recurrent_mask is None else h * recurrent_mask
    pre = x_proj + _recurrent_projection(h_in, weights.w_hh, weights.b_hh, weights.ln_hh, 1)
    return cell.activation(pre), ()


def lstm_step(
    x_proj: Tensor,
    state: tuple[Tensor, Tensor],
    weights: DirectionWeights,
    cell: CellConfig,
    recurrent_mask: Tensor | None = None,
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, ...]]:
    """One step of an LSTM (torch.nn's gate order i, f, g, o)::

        i = σ(W_ii x + b_ii + W_hi h + b_hi)        f = σ(W_if x + b_if + W_hf h + b_hf)
        g = act(W_ig x + b_ig + W_hg h + b_hg)      o = σ(W_io x + b_io + W_ho h + b_ho)
        c' = f ⊙ c + i ⊙ g                          h' = W_hr (o ⊙ act(c'))

    ``σ`` is ``recurrent_activation`` (sigmoid by default), ``act`` is ``activation`` (tanh),
    ``W_hr`` exists only with ``proj_size > 0``; ``h`` is multiplied by the recurrent-dropout
    mask before ``W_h·``, and ``c'`` goes through ``LN_c`` before ``act`` with ``layer_norm``.
    With ``peephole`` (Gers & Schmidhuber 2000) the gates also see the cell state:
    ``i = σ(… + w_ci ⊙ c)``, ``f = σ(… + w_cf ⊙ c)``, ``o = σ(… + w_co ⊙ c')`` (``c'`` before
    ``LN_c``).

    Args: ``x_proj (B, 4H)``, ``state = (h (B, H_out), c (B, H))``.
    Returns ``(h', c')`` and the gates ``(i, f, g, o)``, each ``(B, H)``.
    """
    h, c = state
    h_in = h if recurrent_mask is None else h * recurrent_mask
    pre = x_proj + _recurrent_projection(h_in, weights.w_hh, weights.b_hh, weights.ln_hh, 4)
    pre_i, pre_f, pre_g, pre_o = pre.chunk(4, dim=-1)  # each (B, H)
    gate = cell.recurrent_activation
    if weights.w_ci is not None:
        pre_i, pre_f = pre_i + weights.w_ci * c, pre_f + weights.w_cf * c
    i, f, g = gate(pre_i), gate(pre_f), cell.activation(pre_g)
    c_new = f * c + i * g
    if weights.w_co is not None:
        pre_o = pre_o + weights.w_co * c_new
    o = gate(pre_o)
    c_out = c_new
    if cell.layer_norm:
        c_out = F.layer_norm(
            c_new, c_new.shape[-1:], weights.ln_c_weight, weights.ln_c_bias, LAYER_NORM_EPS
        )
    h_new = o * cell.activation(c_out)
    if weights.w_hr is not None:
        h_new = h_new.matmul(weights.w_hr.t())  # (B, P)
    return (h_new, c_new), (i, f, g, o)


def gru_step(
    x_proj: Tensor,
    h: Tensor,
    weights: DirectionWeights,
    cell: CellConfig,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One step of a GRU (torch.nn's gate order r, z, n), in either form::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)        z = σ(W_iz x + b_iz + W_hz h + b_hz)
        reset after  (torch, cuDNN, Keras reset_after=True):
            n = act(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        reset before (Cho et al. 2014, Keras reset_after=False):
            n = act(W_in x + b_in + W_hn (r ⊙ h) + b_hn)
        h' = (1 - z) ⊙ n + z ⊙ h

    ``σ`` is ``recurrent_activation``, ``act`` is ``activation``; the recurrent-dropout mask
    multiplies ``h`` inside the matmuls only, never in the final interpolation.

    Args: ``x_proj (B, 3H)``, ``h (B, H)``. Returns ``h'`` and the gates ``(r, z, n)``.
    """
    h_in = h if recurrent_mask is None else h * recurrent_mask
    hidden = h.shape[-1]
    x_rz, x_n = x_proj[..., : 2 * hidden], x_proj[..., 2 * hidden :]
    gate = cell.recurrent_activation
    if cell.reset_after:
        rec = _recurrent_projection(h_in, weights.w_hh, weights.b_hh, weights.ln_hh, 3)
        rec_rz, rec_n = rec[..., : 2 * hidden], rec[..., 2 * hidden :]
        r, z = gate(x_rz + rec_rz).chunk(2, dim=-1)
        n = cell.activation(x_n + r * rec_n)
    else:
        rz_rows, n_rows = slice(0, 2 * hidden), slice(2 * hidden, 3 * hidden)
        rec_rz = h_in.matmul(weights.w_hh[rz_rows].t())  # (B, 2H)
        if weights.ln_hh is not None:
            rec_rz = gate_layer_norm(rec_rz, weights.ln_hh[rz_rows], 2)
        if weights.b_hh is not None:
            rec_rz = rec_rz + weights.b_hh[rz_rows]
        r, z = gate(x_rz + rec_rz).chunk(2, dim=-1)
        rec_n = _recurrent_projection(
            r * h_in,
            weights.w_hh[n_rows],
            None if weights.b_hh is None else weights.b_hh[n_rows],
            None if weights.ln_hh is None else weights.ln_hh[n_rows],
            1,
        )
        n = cell.activation(x_n + rec_n)
    h_new = (1 - z) * n + z * h
    return h_new, (r, z, n)


def zoneout(previous: Tensor, new: Tensor, keep: Tensor | float) -> Tensor:
    """Zoneout (Krueger et al. 2016): ``keep ⊙ previous + (1 - keep) ⊙ new``.

    ``keep`` is a 0/1 Bernoulli(p) mask per unit and step in training, and the probability
    ``p`` itself in evaluation (the expectation of the training-time update).
    """
    return keep * previous + (1 - keep) * new


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of a time-major batch within its own length.

    ``x`` is ``(T, B, ...)``; step ``t < lengths[b]`` of sequence ``b`` moves to
    ``lengths[b] - 1 - t``, padding stays where it is. The map is its own inverse.
    """
    if lengths is None:
        return x.flip(0)
    steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)  # (T, 1)
    lengths = lengths.to(x.device).unsqueeze(0)  # (1, B)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (T, B)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, index)

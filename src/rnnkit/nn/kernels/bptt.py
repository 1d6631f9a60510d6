"""The bptt kernel: each cell's recurrence as a ``torch.autograd.Function`` with a hand-written
backward through time (``bptt_lstm``, ``bptt_gru``, ``bptt_rnn``; what they share is in
``bptt_common``). Serves every option of the core; same contract as
``reference.run_direction``, so ``stack.run_stack`` stacks it unchanged.

What runs where, and why:

- The input projection ``LN_ih(W_ih x) + b_ih`` (with the input-dropout multiply and every bias
  that only adds to a pre-activation folded in) and weight drop stay *outside* the Function:
  they do not depend on the recurrence, so autograd differentiates them as a few large ops
  (the layer norm as one Function with a chunked backward, ``gate_norm``).
- The forward loop writes each step into preallocated ``(T, B, ·)`` buffers (gate activations,
  cell states, ``act(c)``, layer-norm statistics) — exactly what the backward needs, nothing
  else; without autograd recording anything (a Function's forward runs in no-grad mode).
  The LSTM's and GRU's gates go over the input projection itself (``bptt_common.gate_buffer``).
  In inference the per-step buffers collapse to one reused scratch step.
- The backward first turns the saved activations into per-step coefficients with a few
  whole-tensor ops (``d i_pre = dc ⊙ g ⊙ σ'(i)``: ``g ⊙ σ'(i)`` for all steps at once), so
  the sequential loop does only the dependent part: it carries ``dh`` (and ``dc``) and does about
  five small ops and one matmul per step. The gradients of ``W_hh`` (and ``W_hr``, gains, peephole
  weights) are single matmuls / reductions over the stacked ``T*B`` rows after the loop, e.g.
  ``dW_hh = dpreᵀ · H_prev``; ``d x_proj`` goes back to autograd for ``dW_ih``, ``db``, ``dx``.
  With layer norm on ``W_hh h`` (LSTM, RNN), the gain's gradient accumulates step by step and
  ``W_hh``'s step by step or, for a large ``W_hh``, chunk by chunk instead
  (``bptt_common.RecurrentNormGrads``), without two more buffers.

Every per-step product with a fixed weight (``W_hh h`` forward, ``d pre · W_hh`` backward) and
the input projection go through ``products``: on CPU, oneDNN multiplies against a weight packed
once per call where that was measured faster than ``mm``. In the LSTM and RNN nothing of size
``(T, B, G*H)`` is allocated that the backward does not need: a fresh buffer that size faults
in every page, which costs more than the per-step work it would save (``benchmarks/RESULTS.md``,
"Dispatch rules: the measurements behind each threshold", "Fresh buffers"). The GRU with layer
norm still builds ``d(W_hh ·)`` and its normalised values whole.

Where ``dispatch.compiled_loops_serve`` says so (``Plan.fused``: the GRU and the vanilla RNN at
small batch without layer norm, recurrent dropout or zoneout; the LSTM without zoneout,
peephole or projection, at H < 256), both loops run compiled (``fused_loop``) instead,
variable lengths included; the rest of the kernel is the same.

Zoneout and variable lengths are one mechanism here: the carried state is
``h_t = lerp(h̃_t, h_{t-1}, keep_t)`` with ``keep_t = 1 - running_t ⊙ (1 - zoneout_t)`` (a
finished sequence keeps its state), and ``output_t = running_t ⊙ h_t``.

Shapes: ``T`` steps, ``B`` batch, ``H`` hidden, ``P`` = H_out, ``G`` gates (see ``functional``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.nn.config import CellConfig
from rnnkit.nn.functional import DirectionWeights, input_projection
from rnnkit.nn.kernels import dispatch
from rnnkit.nn.kernels.bptt_common import Plan, gate_columns
from rnnkit.nn.kernels.bptt_gru import GRUFunction, GRUWeights
from rnnkit.nn.kernels.bptt_lstm import LSTMFunction, LSTMWeights
from rnnkit.nn.kernels.bptt_rnn import RNNFunction, RNNWeights
from rnnkit.nn.kernels.gate_norm import gate_norm
from rnnkit.nn.kernels.products import linear
from rnnkit.nn.noise import DirectionNoise


def _fold_biases(weights: DirectionWeights, cell: CellConfig) -> tuple[DirectionWeights, Tensor]:
    """Move every part of ``b_hh`` that only adds to a pre-activation into ``b_ih``.

    Returns the weights for ``input_projection`` and ``b_hn``: the GRU reset-after part of
    ``b_hh`` that r multiplies (``None`` otherwise).
    """
    if weights.b_hh is None:
        return weights, None
    if cell.kind == "gru" and cell.reset_after:
        rows = gate_columns(cell, "r", "z").stop  # b_hr and b_hz only add
        folded = torch.cat((weights.b_ih[:rows] + weights.b_hh[:rows], weights.b_ih[rows:]))
        return weights._replace(b_ih=folded), weights.b_hh[rows:]
    return weights._replace(b_ih=weights.b_ih + weights.b_hh), None


def _keep(zone: Tensor | float, running: Tensor | None) -> Tensor | float | None:
    """The per-step keep-previous weight: zoneout's, and 1 after a sequence has ended."""
    if running is None:
        return None if not isinstance(zone, Tensor) and zone == 0.0 else zone
    return 1.0 - running * (1.0 - zone)


def _plan(cell: CellConfig, noise: DirectionNoise, lengths: Tensor | None, like: Tensor,
          save: bool, norm_hh: bool) -> Plan:
    """``norm_hh``: the layer normalises ``W_hh h``."""
    running = None
    if lengths is not None:
        steps = torch.arange(like.shape[0], device=like.device).unsqueeze(1)  # (T, 1)
        running = (steps < lengths.unsqueeze(0)).unsqueeze(-1).to(like.dtype)  # (T, B, 1)
    keep_h = _keep(noise.zoneout_h, running)
    keep_c = _keep(noise.zoneout_c, running) if cell.kind == "lstm" else None
    zoneout = _keep(noise.zoneout_h, None) is not None or (
        cell.kind == "lstm" and _keep(noise.zoneout_c, None) is not None)
    fused = dispatch.compiled_loops_serve(cell, like.device.type, like.dtype, like.shape[1],
                                          masked=noise.recurrent_mask is not None,
                                          zoneout=zoneout, norm_hh=norm_hh)
    return Plan(cell=cell, recurrent_mask=noise.recurrent_mask, keep_h=keep_h, keep_c=keep_c,
                 running=running, save=save, fused=fused, lengths=lengths if fused else None)


def _call(function, save: bool, *arguments):
    if save:
        return function.apply(*arguments)
    return function.forward(_NoContext(), *arguments)


class _NoContext:
    """Stands in for ``ctx`` when the forward runs without autograd (nothing is saved)."""

    def save_for_backward(self, *tensors):
        pass


def run_direction(
    cell: CellConfig,
    weights: DirectionWeights,
    x: Tensor,
    lengths: Tensor | None,
    state: tuple[Tensor, ...],
    noise: DirectionNoise,
    return_gates: bool = False,
) -> tuple[Tensor, tuple[Tensor, ...], None]:
    """Same contract as ``reference.run_direction``; ``return_gates`` is not served."""
    if return_gates:
        raise ValueError(f"{cell.owner}: the bptt kernel does not trace gates; "
                         "pass impl='reference' for return_gates=True")
    if noise.input_mask is not None:
        x = x * noise.input_mask  # (T, B, I), one mask for every step
    folded, b_hn = _fold_biases(weights, cell)
    projected = input_projection(x, folded, cell, product=linear, norm=gate_norm)  # (T, B, G*H)
    inputs = (projected, *state, *weights)
    save = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in inputs
    )
    plan = _plan(cell, noise, lengths, projected, save, weights.ln_hh is not None)
    if cell.kind == "lstm":
        h_all, c_n = _call(LSTMFunction, save, plan, projected, state[0], state[1],
                           *LSTMWeights.of(weights))
        final = (h_all[-1], c_n)
    elif cell.kind == "gru":
        h_all = _call(GRUFunction, save, plan, projected, state[0],
                      *GRUWeights(weights.w_hh, b_hn, weights.ln_hh))
        final = (h_all[-1],)
    else:
        h_all = _call(RNNFunction, save, plan, projected, state[0],
                      *RNNWeights(weights.w_hh, weights.ln_hh))
        final = (h_all[-1],)
    output = h_all[1:]  # (T, B, H_out)
    if plan.running is not None:
        output = output * plan.running
    return output, final, None

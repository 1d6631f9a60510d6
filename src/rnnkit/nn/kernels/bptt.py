"""The bptt kernel: each cell's recurrence as a ``torch.autograd.Function`` with a hand-written
backward through time. Serves every option of the core; same contract as
``reference.run_direction``, so ``stack.run_stack`` stacks it unchanged.

What runs where, and why:

- The input projection ``LN_ih(W_ih x) + b_ih`` (with the input-dropout multiply and every bias
  that only adds to a pre-activation folded in) and weight drop stay *outside* the Function:
  they do not depend on the recurrence, so autograd differentiates them as a few large ops
  (the layer norm as one Function with a chunked backward, ``gate_norm``).
- The forward loop writes each step into preallocated ``(T, B, ·)`` buffers (gate activations,
  cell states, ``act(c)``, layer-norm statistics) — exactly what the backward needs, nothing
  else; without autograd recording anything (a Function's forward runs in no-grad mode).
  The LSTM's and GRU's gates go over the input projection itself (:func:`_gate_buffer`).
  In inference the per-step buffers collapse to one reused scratch step.
- The backward first turns the saved activations into per-step coefficients with a few
  whole-tensor ops (``d i_pre = dc ⊙ g ⊙ σ'(i)``: ``g ⊙ σ'(i)`` for all steps at once), so
  the sequential loop does only the dependent part: it carries ``dh`` (and ``dc``) and does about
  five small ops and one matmul per step. The gradients of ``W_hh`` (and ``W_hr``, gains, peephole
  weights) are single matmuls / reductions over the stacked ``T*B`` rows after the loop, e.g.
  ``dW_hh = dpreᵀ · H_prev``; ``d x_proj`` goes back to autograd for ``dW_ih``, ``db``, ``dx``.
  With layer norm on ``W_hh h`` (LSTM, RNN), the gain's gradient accumulates step by step and
  ``W_hh``'s step by step or, for a large ``W_hh``, chunk by chunk instead
  (``_RecurrentNormGrads``), without two more buffers.

Every per-step product with a fixed weight (``W_hh h`` forward, ``d pre · W_hh`` backward) and
the input projection go through ``products``: on CPU, oneDNN multiplies against a weight packed
once per call where that was measured faster than ``mm``. In the LSTM and RNN nothing of size
``(T, B, G*H)`` is allocated that the backward does not need: a fresh buffer that size faults
in every page, which costs more than the per-step work it would save (``benchmarks/RESULTS.md``,
"Dispatch rules: the measurements behind each threshold", "Fresh buffers"). The GRU with layer norm still builds ``d(W_hh ·)``
and its normalised values whole.

Where ``fused_loop`` serves the configuration (``_Plan.fused``: the GRU and the vanilla RNN at
small batch without layer norm, recurrent dropout or zoneout; the LSTM without zoneout,
peephole or projection, at H < 256), both loops run compiled instead, variable lengths
included; the rest of the kernel is the same.

Zoneout and variable lengths are one mechanism here: the carried state is
``h_t = lerp(h̃_t, h_{t-1}, keep_t)`` with ``keep_t = 1 - running_t ⊙ (1 - zoneout_t)`` (a
finished sequence keeps its state), and ``output_t = running_t ⊙ h_t``.

Shapes: ``T`` steps, ``B`` batch, ``H`` hidden, ``P`` = H_out, ``G`` gates (see ``functional``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.activations import Activation, builtin_name
from rnnkit.nn.config import CellConfig
from rnnkit.nn.functional import LAYER_NORM_EPS, DirectionWeights, input_projection
from rnnkit.nn.kernels import dispatch, fused_loop
from rnnkit.nn.kernels.first_order import BPTT_FIX, first_order
from rnnkit.nn.kernels.gate_norm import block_norm_backward, block_normed, gate_norm
from rnnkit.nn.kernels.products import RepeatedProduct, linear
from rnnkit.nn.noise import DirectionNoise


@dataclass
class _Plan:
    """The non-differentiable inputs of one direction's pass (masks are constants)."""

    cell: CellConfig
    recurrent_mask: Tensor | None  # (B, P), scaled by 1 / (1 - p)
    keep_h: Tensor | float | None  # (T, B, P or 1), a probability, or None: h_t = h̃_t
    keep_c: Tensor | float | None  # (T, B, H or 1), ...                      c_t = c̃_t
    running: Tensor | None  # (T, B, 1): 1.0 while t < length
    save: bool  # keep every step for the backward (False in inference)
    fused: bool = False  # the compiled loops run this pass (``fused_loop``)
    lengths: Tensor | None = None  # (B,), for the compiled loops


# ---------------------------------------------------------------------------------------------
# helpers


_MINUS_ONE = torch.tensor(-1.0)


def _tanh_into(src: Tensor, out: Tensor) -> Tensor:
    """``out = tanh(src)``, as ``2σ(2 src) - 1`` where ``dispatch.tanh_by_sigmoid`` says
    (within 3e-7 of ``torch.tanh``, absolute)."""
    if not dispatch.tanh_by_sigmoid(out):
        return torch.tanh(src, out=out)
    torch.sigmoid(torch.mul(src, 2.0, out=out), out=out)
    return torch.add(_MINUS_ONE, out, alpha=2.0, out=out)


def _into(activation: Activation) -> Callable[[Tensor, Tensor], object]:
    """``f(src, out)`` writing ``activation(src)`` into ``out`` (``out`` may be ``src``)."""
    name = builtin_name(activation)  # a user's Activation goes the generic way
    if name == "sigmoid":
        return lambda src, out: torch.sigmoid(src, out=out)
    if name == "tanh":
        return _tanh_into
    if name == "relu":
        return lambda src, out: torch.clamp(src, min=0.0, out=out)
    if name == "hard_sigmoid":  # same values as relu6(x + 3) / 6, one kernel
        return lambda src, out: F.hardsigmoid(src if src is out else out.copy_(src),
                                              inplace=True)
    if name == "linear":
        return lambda src, out: out if src is out else out.copy_(src)
    return lambda src, out: out.copy_(activation.fn(src))


_aten = torch.ops.aten
_BACKWARD_OPS = {  # name: (torch's backward op, its extra arguments, slope)
    "sigmoid": (_aten.sigmoid_backward, (), 1.0),  # factor ⊙ y(1-y)
    "tanh": (_aten.tanh_backward, (), 1.0),  # factor ⊙ (1-y²)
    "relu": (_aten.threshold_backward, (0.0,), 1.0),  # factor where y > 0
    "hard_sigmoid": (_aten.hardtanh_backward, (0.0, 1.0), 1.0 / 6.0),  # slope where 0 < y < 1
    "hard_sigmoid_v2": (_aten.hardtanh_backward, (0.0, 1.0), 0.2),
}
"""The built-in activations whose ``factor ⊙ f'(x)`` one of torch's backward ops computes from
``y = f(x)``, times a constant slope."""


def _times_grad(activation: Activation, factor: Tensor, output: Tensor,
                out: Tensor | None = None) -> Tensor:
    """``factor ⊙ f'(x)`` from ``y = f(x)``, with torch's own backward op where one fits
    (:data:`_BACKWARD_OPS`), so no temporaries the size of ``factor``; else
    ``grad_from_output``."""
    name = builtin_name(activation)
    if name not in _BACKWARD_OPS:
        return torch.mul(factor, activation.grad_from_output(output), out=out)
    op, arguments, slope = _BACKWARD_OPS[name]
    if out is None:
        out = op(factor, output, *arguments)
    else:
        op.grad_input(factor, output, *arguments, grad_input=out)
    return out if slope == 1.0 else out.mul_(slope)


def _steps(like: Tensor, steps: int, shape: tuple[int, ...], save: bool) -> Tensor:
    """A ``(T, *shape)`` buffer; without ``save`` every step views one reused scratch step."""
    if save:
        return like.new_empty(steps, *shape)
    return like.new_empty(1, *shape).expand(steps, *shape)


def _gate_buffer(x_proj: Tensor, save: bool) -> Tensor:
    """Where the forward writes each step's activated gates: ``(T, B, G*H)``.

    When the steps are kept for the backward this is ``x_proj`` itself: step t reads
    ``x_proj[t]`` before it writes ``gates[t]`` in the same place, and nothing else needs the
    projection afterwards (``run_direction`` made it, and neither autograd's product node nor
    ``gate_norm`` keeps its output). A fresh buffer that size would cost more than its
    arithmetic: above glibc's mmap threshold every page of a new allocation faults (see
    ``benchmarks/RESULTS.md``, "Dispatch rules: …", "Fresh buffers"). In inference one reused
    scratch step serves.
    """
    if save and x_proj.is_contiguous():
        return x_proj
    return _steps(x_proj, x_proj.shape[0], tuple(x_proj.shape[1:]), save)


class _Absent:
    """The per-step views of a buffer that the configuration does not use: ``None`` each."""

    def __getitem__(self, step: int) -> None:
        return None


def _unbind(tensor: Tensor | None) -> tuple[Tensor, ...] | _Absent:
    """Per-step views ``(B, ·)`` of a ``(T, B, ·)`` buffer, made once before the loop."""
    return tensor.unbind(0) if tensor is not None else _Absent()


def _at(keep: Tensor | float | None, step: int):
    return keep[step] if isinstance(keep, Tensor) else keep


def _complement(keep: Tensor | float | None):
    return None if keep is None else 1.0 - keep


def _ln_forward(raw: Tensor, blocks: int, stats: list | None) -> Tensor:
    """Normalise each of ``blocks`` H-blocks of ``raw (B, k*H)`` (no gain); appends the
    per-block ``(mean, 1/σ)``, each ``(B, k, 1)``, to ``stats`` for the backward."""
    batch = raw.shape[0]
    split = raw.view(batch, blocks, -1)  # (B, k, H)
    normed, mean, rstd = torch.native_layer_norm(split, split.shape[-1:], None, None,
                                                 LAYER_NORM_EPS)
    if stats is not None:
        stats.append((mean, rstd))
    return normed.view(batch, -1)


class _RecurrentNormGrads:
    """The backward through ``LN_hh(W_hh h_in)`` step by step, for ``blocks`` gate blocks.

    Each step turns ``d pre_t`` into ``d(W_hh h_in)_t`` and adds that step's share to the
    gain's gradient (``Σ_t d_t ⊙ normed_t``). ``W_hh``'s gradient ``Σ_t d(W_hh h)_tᵀ h_in,t``
    is one product per chunk of steps for a large ``W_hh`` (``dispatch.norm_chunk_steps``): a
    product per step reads and writes the whole ``(G*H, P)`` gradient every step, and a
    ``(T, B, G*H)`` buffer for all steps at once would be a fresh allocation that faults in
    every page. The chunk buffer is the kernel's own, so ``rec_raw`` (saved for a second
    backward with ``retain_graph``) stays intact.
    """

    def __init__(self, gain: Tensor, raw: Tensor, stats: list[tuple[Tensor, Tensor]],
                 blocks: int, h_in: Tensor, w_hh: Tensor | None) -> None:
        self.gain, self.raw, self.stats, self.blocks, self.h_in = gain, raw, stats, blocks, h_in
        self.d_gain = raw.new_zeros(raw.shape[1:])  # (B, G*H), summed over B at the end
        self.d_w_hh = None if w_hh is None else torch.zeros_like(w_hh)  # (G*H, P)
        steps, batch, _ = raw.shape
        chunk = dispatch.norm_chunk_steps(w_hh, steps, batch)  # steps per product
        self.d_rec = raw.new_empty(chunk, *raw.shape[1:]) if chunk > 1 else None  # (chunk, B, G*H)

    def step(self, t: int, d_pre: Tensor) -> Tensor:
        """``d pre_t (B, G*H) -> d(W_hh h_in)_t (B, G*H)``; steps come in descending order."""
        raw, stats = self.raw[t], self.stats[t]
        self.d_gain.addcmul_(d_pre, block_normed(raw, stats, self.blocks))
        d_rec = block_norm_backward(d_pre * self.gain, raw, stats, self.blocks)
        if self.d_w_hh is None:
            return d_rec
        if self.d_rec is None:  # one product per step
            self.d_w_hh.addmm_(d_rec.t(), self.h_in[t])
            return d_rec
        chunk = self.d_rec.shape[0]
        start = t - t % chunk  # the chunk's first step, the last to arrive
        self.d_rec[t - start].copy_(d_rec)
        if t == start:
            count = min(chunk, self.raw.shape[0] - start)
            self.d_w_hh.addmm_(_rows(self.d_rec[:count]).t(), _rows(self.h_in[start:start + count]))
        return d_rec


def _normed(raw: Tensor, stats: list[tuple[Tensor, Tensor]], blocks: int) -> Tensor:
    """The normalised values of every step at once: ``(T, B, k*H)``."""
    mean = torch.stack([m for m, _ in stats]).view(-1, blocks, 1)  # (T*B, k, 1)
    rstd = torch.stack([r for _, r in stats]).view(-1, blocks, 1)
    return block_normed(_rows(raw), (mean, rstd), blocks).view(raw.shape)


def _rows(tensor: Tensor) -> Tensor:
    """``(T, B, F) -> (T*B, F)``: every step as rows of one matrix."""
    return tensor.reshape(-1, tensor.shape[-1])


def _reduce(tensor: Tensor) -> Tensor:
    """Sum over steps and batch: ``(T, B, F) -> (F,)``."""
    return tensor.sum((0, 1))


def _carry_h(plan: _Plan, t: int, dh: Tensor, d_in: Tensor, d_trace: Tensor) -> Tensor:
    """``dh_{t-1} = d_trace_{t-1} + keep_t ⊙ dh_t + mask ⊙ d_in`` (``d_in``: gradient of
    ``h_in = h_{t-1} ⊙ mask``; terms that bypass the mask are added by the caller)."""
    if plan.recurrent_mask is not None:
        d_in = d_in * plan.recurrent_mask
    if plan.keep_h is not None:
        d_in = d_in + dh * _at(plan.keep_h, t)
    return d_in + d_trace[t]


def _prev_inputs(plan: _Plan, h_all: Tensor) -> Tensor:
    """``h_{t-1} ⊙ mask`` for every step: ``(T, B, P)``."""
    h_prev = h_all[:-1]
    return h_prev if plan.recurrent_mask is None else h_prev * plan.recurrent_mask


# ---------------------------------------------------------------------------------------------
# LSTM: gates i, f, g, o; buffers G (T, B, 4H) hold the activated gates.


def _lstm_forward(plan, x_proj, h_0, c_0, w_hh, w_hr, ln_hh, ln_c_w, ln_c_b, w_ci, w_cf, w_co):
    if plan.fused:
        return _lstm_forward_fused(plan, x_proj, h_0, c_0, w_hh, ln_hh, ln_c_w, ln_c_b)
    cell, save = plan.cell, plan.save
    steps, batch, _ = x_proj.shape
    hidden, out_size = cell.hidden_size, h_0.shape[-1]
    gates = _gate_buffer(x_proj, save)  # (T, B, 4H)
    h_all = x_proj.new_empty(steps + 1, batch, out_size)  # (T+1, B, P): h_0 … h_T
    c_all = x_proj.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
    h_all[0], c_all[0] = h_0, c_0
    c_new = c_all[1:] if plan.keep_c is None else _steps(x_proj, steps, (batch, hidden), save)
    h_new = h_all[1:] if plan.keep_h is None else _steps(x_proj, steps, (batch, out_size), save)
    act_c = _steps(x_proj, steps, (batch, hidden), save)  # act(LN_c(c̃))
    mixed = _steps(x_proj, steps, (batch, hidden), save) if w_hr is not None else None
    rec_raw = _steps(x_proj, steps, (batch, 4 * hidden), save) if ln_hh is not None else None
    rec_stats, c_stats = ([], []) if save else (None, None)
    gate_into, act_into = _into(cell.recurrent_activation), _into(cell.activation)
    recurrent = RepeatedProduct(w_hh, batch)  # W_hh h_in: (B, P) -> (B, 4H)
    project = None if w_hr is None else RepeatedProduct(w_hr, batch)  # W_hr m: (B, H) -> (B, P)
    w_cif = None if w_ci is None else torch.stack((w_ci, w_cf))  # (2, H)
    xs, gs, hs, cs = x_proj.unbind(0), gates.unbind(0), h_all.unbind(0), c_all.unbind(0)
    ifs, gcs, os = (gates[..., s].unbind(0) for s in (slice(0, 2 * hidden),
                                                      slice(2 * hidden, 3 * hidden),
                                                      slice(3 * hidden, None)))
    fs, is_ = gates[..., hidden:2 * hidden].unbind(0), gates[..., :hidden].unbind(0)
    cns, hns, acs, ms = c_new.unbind(0), h_new.unbind(0), act_c.unbind(0), _unbind(mixed)
    raws = _unbind(rec_raw)
    mask = plan.recurrent_mask
    for t in range(steps):
        h_in = hs[t] if mask is None else hs[t] * mask
        if ln_hh is None:
            recurrent(h_in, xs[t], out=gs[t])  # (B, 4H) pre-activations
        else:
            normed = _ln_forward(recurrent(h_in, out=raws[t]), 4, rec_stats)
            torch.addcmul(xs[t], normed, ln_hh, out=gs[t])
        if w_cif is not None:
            ifs[t].view(batch, 2, hidden).addcmul_(w_cif, cs[t].unsqueeze(1))
        gate_into(ifs[t], ifs[t])
        act_into(gcs[t], gcs[t])
        torch.mul(fs[t], cs[t], out=cns[t])
        cns[t].addcmul_(is_[t], gcs[t])  # c̃ = f ⊙ c + i ⊙ g
        if w_co is not None:
            os[t].addcmul_(w_co, cns[t])
        gate_into(os[t], os[t])
        if ln_c_w is None:
            act_into(cns[t], acs[t])
        else:
            c_out, mean, rstd = torch.native_layer_norm(cns[t], (hidden,), ln_c_w, ln_c_b,
                                                        LAYER_NORM_EPS)
            if save:
                c_stats.append((mean, rstd))
            act_into(c_out, acs[t])
        if w_hr is None:
            torch.mul(os[t], acs[t], out=hns[t])
        else:
            torch.mul(os[t], acs[t], out=ms[t])
            project(ms[t], out=hns[t])  # (B, P)
        if plan.keep_h is not None:
            torch.lerp(hns[t], hs[t], _at(plan.keep_h, t), out=hs[t + 1])
        if plan.keep_c is not None:
            torch.lerp(cns[t], cs[t], _at(plan.keep_c, t), out=cs[t + 1])
    # c_new is saved only when it is its own buffer: a view of c_all is rebuilt in backward.
    own_c_new = None if plan.keep_c is None else c_new
    saved = (gates, h_all, c_all, own_c_new, act_c, mixed, rec_raw)
    return h_all, c_all, saved, (rec_stats, c_stats)


def _lstm_loop_arguments(plan, gates, h_all, c_all, act_c, w_hh, ln_hh, ln_c_w, ln_c_b,
                         rec_raw, rec_stats, c_stats) -> tuple:
    """What the compiled LSTM loop's forward and backward both take first, in its order: the
    buffers, the weights, the mask, the lengths and whether its own product serves the batch."""
    return (gates, h_all, c_all, act_c, w_hh, plan.recurrent_mask, ln_hh, rec_raw, rec_stats,
            ln_c_w, ln_c_b, c_stats, plan.lengths,
            dispatch.lstm_hand_product(gates.shape[1]))


def _gate_kind(plan) -> int:
    """The compiled LSTM loop's code for the recurrent activation (``fused_loop.GATE_KINDS``)."""
    return fused_loop.GATE_KINDS[builtin_name(plan.cell.recurrent_activation)]


def _lstm_forward_fused(plan, x_proj, h_0, c_0, w_hh, ln_hh, ln_c_w, ln_c_b):
    """``_lstm_forward`` by the compiled loop (no projection, peephole or keep weights); the
    layer-norm statistics are tensors here, ``(T, B, 4, 2)`` and ``(T, B, 2)`` of
    ``(mean, 1/σ)``."""
    steps, batch, _ = x_proj.shape
    hidden = plan.cell.hidden_size
    kept = steps if plan.save else 1  # per-step buffers: every step, or one reused
    gates = x_proj.contiguous()  # (T, B, 4H): the projection, then the activated gates
    h_all = x_proj.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
    c_all = x_proj.new_empty(steps + 1, batch, hidden)
    h_all[0], c_all[0] = h_0, c_0
    act_c = x_proj.new_empty(kept, batch, hidden)  # act(LN_c(c̃))
    rec_raw = rec_stats = c_stats = None
    if ln_hh is not None:
        rec_raw = x_proj.new_empty(kept, batch, 4 * hidden)  # W_hh h_in
        rec_stats = x_proj.new_empty(kept, batch, 4, 2)
    if ln_c_w is not None:
        c_stats = x_proj.new_empty(kept, batch, 2)
    fused_loop.module().lstm_forward(
        *_lstm_loop_arguments(plan, gates, h_all, c_all, act_c, w_hh, ln_hh, ln_c_w, ln_c_b,
                              rec_raw, rec_stats, c_stats),
        _gate_kind(plan), LAYER_NORM_EPS)
    saved = (gates, h_all, c_all, None, act_c, None, rec_raw)
    return h_all, c_all, saved, (rec_stats, c_stats)


def _lstm_backward_fused(ctx, d_trace, d_c_n):
    """``_lstm_backward`` by the compiled loop: the loop returns ``d pre`` and the gradients
    it accumulates (layer-norm gains, ``W_hh``'s through the norm); the rest is one product."""
    plan = ctx.plan
    (w_hh, _, ln_hh, ln_c_w, ln_c_b, _, _, _, gates, h_all, c_all, _, act_c, _,
     rec_raw) = ctx.saved_tensors
    rec_stats, c_stats = ctx.stats
    needs = ctx.needs_input_grad
    d_pre = torch.empty_like(gates)  # (T, B, 4H)
    dh, dc, d_gain, d_w_hh, d_ln_c_w, d_ln_c_b = fused_loop.module().lstm_backward(
        *_lstm_loop_arguments(plan, gates, h_all, c_all, act_c, w_hh, ln_hh, ln_c_w, ln_c_b,
                              rec_raw, rec_stats, c_stats),
        d_trace, d_c_n, d_pre, _gate_kind(plan), bool(needs[4]))
    if ln_hh is None:
        d_gain = None
        d_w_hh = _rows(d_pre).t().mm(_rows(_prev_inputs(plan, h_all))) if needs[4] else None
    if ln_c_w is None:
        d_ln_c_w = d_ln_c_b = None
    return (None, d_pre, dh, dc, d_w_hh, None, d_gain, d_ln_c_w, d_ln_c_b, None, None, None)


def _lstm_coefficients(cell, gates, c_all, c_new, act_c):
    """Per-step factors ``d pre / d c̃`` (i, f, g) and ``d pre_o / d m``, and ``d m / d c_out``."""
    hidden = cell.hidden_size
    gate, act = cell.recurrent_activation, cell.activation
    i, f, g, o = gates.split(hidden, dim=-1)  # each (T, B, H)
    coefficients = torch.empty_like(gates)  # (T, B, 4H), becomes d(pre-activations)
    _times_grad(gate, g, i, out=coefficients[..., :hidden])  # g ⊙ σ'(i)
    _times_grad(gate, c_all[:-1], f, out=coefficients[..., hidden:2 * hidden])  # c ⊙ σ'(f)
    _times_grad(act, i, g, out=coefficients[..., 2 * hidden:3 * hidden])  # i ⊙ act'(g)
    _times_grad(gate, act_c, o, out=coefficients[..., 3 * hidden:])  # act(c) ⊙ σ'(o)
    return coefficients, _times_grad(act, o, act_c)  # o ⊙ act'(c)


def _lstm_backward(ctx, d_trace, d_c_n):
    if ctx.plan.fused:
        return _lstm_backward_fused(ctx, d_trace, d_c_n)
    plan, cell = ctx.plan, ctx.plan.cell
    (w_hh, w_hr, ln_hh, ln_c_w, ln_c_b, w_ci, w_cf, w_co, gates, h_all, c_all, c_new, act_c,
     mixed, rec_raw) = ctx.saved_tensors
    rec_stats, c_stats = ctx.stats
    steps, batch, _ = gates.shape
    hidden = cell.hidden_size
    c_new = c_all[1:] if c_new is None else c_new
    d_pre, d_m_to_c = _lstm_coefficients(cell, gates, c_all, c_new, act_c)
    d_trace = d_trace.contiguous()  # (T+1, B, P): d h_0 … d h_T from outside the recurrence
    dh, dc = d_trace[-1].clone(), d_c_n.clone()
    needs = ctx.needs_input_grad
    h_prev = _prev_inputs(plan, h_all)  # (T, B, P): h_in of every step
    norm_grads = None if ln_hh is None else _RecurrentNormGrads(
        ln_hh, rec_raw, rec_stats, 4, h_prev, w_hh if needs[4] else None)
    d_h_new = _steps(d_pre, steps, (batch, h_all.shape[-1]), w_hr is not None)
    d_c_out = torch.empty_like(act_c) if ln_c_w is not None else None
    keep_h_c, keep_c_c = _complement(plan.keep_h), _complement(plan.keep_c)
    fs = gates[..., hidden:2 * hidden].unbind(0)
    dps, d_ifg = d_pre.unbind(0), d_pre[..., :3 * hidden].unflatten(-1, (3, hidden)).unbind(0)
    d_is, d_fs = d_pre[..., :hidden].unbind(0), d_pre[..., hidden:2 * hidden].unbind(0)
    d_os, coef_c = d_pre[..., 3 * hidden:].unbind(0), d_m_to_c.unbind(0)
    dhns, dcos = d_h_new.unbind(0), _unbind(d_c_out)
    recurrent_back = RepeatedProduct(w_hh.t(), batch)  # d pre · W_hh: (B, 4H) -> (B, P)
    project_back = None if w_hr is None else RepeatedProduct(w_hr.t(), batch)  # (B, P) -> (B, H)
    for t in range(steps - 1, -1, -1):
        d_hn = dh if keep_h_c is None else dh * _at(keep_h_c, t)
        if w_hr is not None:
            dhns[t].copy_(d_hn)
            d_hn = project_back(d_hn)  # (B, H): gradient of m = o ⊙ act(c_out)
        dc_new = dc if keep_c_c is None else dc * _at(keep_c_c, t)
        if ln_c_w is None:
            dc_new.addcmul_(d_hn, coef_c[t])
        else:
            torch.mul(d_hn, coef_c[t], out=dcos[t])
            dc_new = dc_new + torch.ops.aten.native_layer_norm_backward(
                dcos[t], c_new[t], (hidden,), *c_stats[t], ln_c_w, ln_c_b,
                (True, False, False))[0]
        d_os[t].mul_(d_hn)
        if w_co is not None:
            dc_new.addcmul_(d_os[t], w_co)
        d_ifg[t].mul_(dc_new.unsqueeze(1))
        dc_prev = dc_new.mul_(fs[t]) if keep_c_c is None else dc_new * fs[t] + dc * _at(
            plan.keep_c, t)
        if w_ci is not None:
            dc_prev.addcmul_(d_is[t], w_ci).addcmul_(d_fs[t], w_cf)
        dc = dc_prev
        d_rec = dps[t] if norm_grads is None else norm_grads.step(t, dps[t])  # d(W_hh h_in)
        if plan.recurrent_mask is None and plan.keep_h is None:
            dh = recurrent_back(d_rec, d_trace[t], out=dh)
        else:
            dh = _carry_h(plan, t, dh, recurrent_back(d_rec), d_trace)
    d_w_hh = None
    if norm_grads is not None:
        d_w_hh = norm_grads.d_w_hh
    elif needs[4]:
        d_w_hh = _rows(d_pre).t().mm(_rows(h_prev))
    grads = {
        "w_hh": d_w_hh,
        "w_hr": _rows(d_h_new).t().mm(_rows(mixed)) if w_hr is not None and needs[5] else None,
        "ln_hh": norm_grads.d_gain.sum(0) if ln_hh is not None else None,
        "ln_c_w": _reduce(d_c_out * _normed(c_new, c_stats, 1)) if ln_c_w is not None else None,
        "ln_c_b": _reduce(d_c_out) if ln_c_w is not None else None,
    }
    if w_ci is not None:
        grads["w_ci"] = _reduce(d_pre[..., :hidden] * c_all[:-1])
        grads["w_cf"] = _reduce(d_pre[..., hidden:2 * hidden] * c_all[:-1])
        grads["w_co"] = _reduce(d_pre[..., 3 * hidden:] * c_new)
    return (None, d_pre, dh, dc, grads["w_hh"], grads["w_hr"], grads["ln_hh"], grads["ln_c_w"],
            grads["ln_c_b"], grads.get("w_ci"), grads.get("w_cf"), grads.get("w_co"))


class LSTMFunction(torch.autograd.Function):
    """``(plan, x_proj (T,B,4H), h_0, c_0, W_hh, W_hr, ln_hh, ln_c_w, ln_c_b, w_ci, w_cf, w_co)
    -> (h_all (T+1,B,P), c_n (B,H))``; optional tensors may be ``None``. With ``plan.save``
    the gates overwrite ``x_proj`` (:func:`_gate_buffer`)."""

    @staticmethod
    def forward(ctx, plan, x_proj, h_0, c_0, w_hh, w_hr, ln_hh, ln_c_w, ln_c_b, w_ci, w_cf,
                w_co):
        h_all, c_all, saved, ctx.stats = _lstm_forward(
            plan, x_proj, h_0, c_0, w_hh, w_hr, ln_hh, ln_c_w, ln_c_b, w_ci, w_cf, w_co)
        ctx.plan = plan
        ctx.save_for_backward(w_hh, w_hr, ln_hh, ln_c_w, ln_c_b, w_ci, w_cf, w_co, *saved)
        return h_all, c_all[-1].clone()

    @staticmethod
    @first_order("LSTM (bptt kernel)", BPTT_FIX)
    def backward(ctx, d_h_all, d_c_n):
        return _lstm_backward(ctx, d_h_all, d_c_n)


# ---------------------------------------------------------------------------------------------
# GRU: gates r, z, n; G (T, B, 3H) holds the activated gates. Reset after (torch's form) keeps
# ``W_hn h + b_hn`` per step (it is multiplied by r); reset before keeps ``r ⊙ h_in``.


def _gru_forward(plan, x_proj, h_0, w_hh, b_hn, ln_hh):
    if plan.fused:
        return _gru_forward_fused(plan, x_proj, h_0, w_hh, b_hn)
    cell, save = plan.cell, plan.save
    steps, batch, _ = x_proj.shape
    hidden = cell.hidden_size
    gates = _gate_buffer(x_proj, save)  # (T, B, 3H)
    h_all = x_proj.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
    h_all[0] = h_0
    h_new = h_all[1:] if plan.keep_h is None else _steps(x_proj, steps, (batch, hidden), save)
    recurrent_n = _steps(x_proj, steps, (batch, hidden), save)  # reset after: W_hn h + b_hn
    # With layer norm, W_hh h_in (reset after: all 3 blocks; before: r, z) and W_hn (r ⊙ h_in).
    blocks = 3 if cell.reset_after else 2
    raw_a = raw_b = None
    if ln_hh is not None:
        raw_a = _steps(x_proj, steps, (batch, blocks * hidden), save)
        raw_b = None if cell.reset_after else _steps(x_proj, steps, (batch, hidden), save)
    stats_a, stats_b = ([], []) if save else (None, None)
    gate_into, act_into = _into(cell.recurrent_activation), _into(cell.activation)
    # W_hh h_in: (B, H) -> (B, 2H) for r, z and (B, H) for n; with layer norm in the
    # reset-after form, all three blocks at once (they are normalised together).
    product_rz = RepeatedProduct(w_hh[:2 * hidden], batch)
    product_n = RepeatedProduct(w_hh[2 * hidden:], batch)
    product_all = RepeatedProduct(w_hh, batch) if ln_hh is not None and cell.reset_after else None
    rz, n_ = slice(0, 2 * hidden), slice(2 * hidden, None)
    xrz, xn = x_proj[..., rz].unbind(0), x_proj[..., n_].unbind(0)
    grz, gn = gates[..., rz].unbind(0), gates[..., n_].unbind(0)
    rs, zs = gates[..., :hidden].unbind(0), gates[..., hidden:2 * hidden].unbind(0)
    hs, hns, rns = h_all.unbind(0), h_new.unbind(0), recurrent_n.unbind(0)
    raws_a, raws_b = _unbind(raw_a), _unbind(raw_b)
    mask = plan.recurrent_mask
    for t in range(steps):
        h_in = hs[t] if mask is None else hs[t] * mask
        if ln_hh is None:
            product_rz(h_in, xrz[t], out=grz[t])
        else:
            raw = (product_all or product_rz)(h_in, out=raws_a[t])
            normed = _ln_forward(raw, blocks, stats_a)
            torch.addcmul(xrz[t], normed[:, rz], ln_hh[rz], out=grz[t])
        gate_into(grz[t], grz[t])
        if cell.reset_after:
            if ln_hh is not None:
                torch.mul(normed[:, n_], ln_hh[n_], out=rns[t])
                if b_hn is not None:
                    rns[t].add_(b_hn)
            elif b_hn is None:
                product_n(h_in, out=rns[t])
            else:
                product_n(h_in, b_hn, out=rns[t])
            torch.addcmul(xn[t], rs[t], rns[t], out=gn[t])  # x_n + r ⊙ (W_hn h + b_hn)
        else:
            torch.mul(rs[t], h_in, out=rns[t])  # r ⊙ h_in
            if ln_hh is None:
                product_n(rns[t], xn[t], out=gn[t])
            else:
                normed = _ln_forward(product_n(rns[t], out=raws_b[t]), 1, stats_b)
                torch.addcmul(xn[t], normed, ln_hh[n_], out=gn[t])
        act_into(gn[t], gn[t])
        torch.lerp(gn[t], hs[t], zs[t], out=hns[t])  # h̃ = (1 - z) ⊙ n + z ⊙ h
        if plan.keep_h is not None:
            torch.lerp(hns[t], hs[t], _at(plan.keep_h, t), out=hs[t + 1])
    return h_all, (gates, h_all, recurrent_n, raw_a, raw_b), (stats_a, stats_b)


def _gru_forward_fused(plan, x_proj, h_0, w_hh, b_hn):
    """``_gru_forward`` by the compiled loops; the gates overwrite ``x_proj`` here too."""
    steps, batch, _ = x_proj.shape
    hidden = plan.cell.hidden_size
    gates = x_proj.contiguous()  # (T, B, 3H)
    h_all = x_proj.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
    h_all[0] = h_0
    recurrent_n = x_proj.new_empty(steps if plan.save else 1, batch, hidden)  # (T or 1, B, H)
    fused_loop.module().gru_forward(gates, h_all, w_hh, b_hn, recurrent_n, plan.cell.reset_after,
                                    plan.lengths)
    return h_all, (gates, h_all, recurrent_n, None, None), (None, None)


class _GRUSaved(NamedTuple):
    """What :class:`GRUFunction` saves for backward, unpacked once."""

    w_hh: Tensor
    b_hn: Tensor | None
    ln_hh: Tensor | None
    gates: Tensor  # (T, B, 3H)
    h_all: Tensor  # (T+1, B, H)
    recurrent_n: Tensor  # (T or 1, B, H)
    raw_a: Tensor | None
    raw_b: Tensor | None


def _gru_backward(ctx, d_trace):
    plan, cell = ctx.plan, ctx.plan.cell
    saved = _GRUSaved(*ctx.saved_tensors)
    w_hh, gates, h_all, recurrent_n = saved.w_hh, saved.gates, saved.h_all, saved.recurrent_n
    hidden = cell.hidden_size
    r = gates[..., :hidden]  # (T, B, H)
    h_prev = _prev_inputs(plan, h_all)  # (T, B, H) h_in of every step
    if plan.fused:
        d_pre, d_rec_n = torch.empty_like(gates), torch.empty_like(recurrent_n)
        dh = fused_loop.module().gru_backward(gates, h_all, recurrent_n, w_hh, d_trace, d_pre,
                                              d_rec_n, cell.reset_after, plan.lengths)
        d_rec = None
    else:
        d_pre, d_rec_n, d_rec, dh = _gru_backward_loop(ctx, saved, d_trace, h_prev)
    return _gru_weight_grads(ctx, saved, d_pre, d_rec_n, d_rec, dh, r, h_prev)


def _gru_backward_loop(ctx, saved: _GRUSaved, d_trace, h_prev):
    """The backward loop in Python: ``d_pre (T, B, 3H)``, ``d_rec_n (T, B, H)``, ``d_rec``
    (``d(W_hh ·)`` per block with layer norm, else ``None``) and ``dh_0 (B, H)``."""
    plan, cell = ctx.plan, ctx.plan.cell
    w_hh, ln_hh, gates, h_all = saved.w_hh, saved.ln_hh, saved.gates, saved.h_all
    recurrent_n, raw_a, raw_b = saved.recurrent_n, saved.raw_a, saved.raw_b
    stats_a, stats_b = ctx.stats
    steps = gates.shape[0]
    hidden = cell.hidden_size
    gate, act = cell.recurrent_activation, cell.activation
    r, z, n = gates.split(hidden, dim=-1)  # each (T, B, H)
    d_pre = torch.empty_like(gates)  # (T, B, 3H): coefficients, then d(pre-activations)
    first = recurrent_n if cell.reset_after else h_prev  # d pre_r = d(r·first) ⊙ σ'(r)
    _times_grad(gate, first, r, out=d_pre[..., :hidden])
    _times_grad(gate, h_all[:-1] - n, z, out=d_pre[..., hidden:2 * hidden])
    _times_grad(act, 1.0 - z, n, out=d_pre[..., 2 * hidden:])
    d_rec_n = torch.empty_like(recurrent_n)  # d(W_hn h + b_hn) or d(pre_n) after LN
    d_rec = torch.empty_like(gates) if ln_hh is not None else None  # d(W_hh ·) per block
    keep_h_c = _complement(plan.keep_h)
    rz, n_ = slice(0, 2 * hidden), slice(2 * hidden, None)
    batch = h_all.shape[1]
    # d pre · W_hh, per block: (B, 2H) -> (B, H) for r, z; (B, H) -> (B, H) for n
    back_rz, back_n = RepeatedProduct(w_hh[rz].t(), batch), RepeatedProduct(w_hh[n_].t(), batch)
    back_all = RepeatedProduct(w_hh.t(), batch) if ln_hh is not None else None
    d_trace = d_trace.contiguous()
    dh = d_trace[-1].clone()
    d_zn = d_pre[..., hidden:].unflatten(-1, (2, hidden)).unbind(0)
    d_rs, d_ns = d_pre[..., :hidden].unbind(0), d_pre[..., n_].unbind(0)
    d_rzs = d_pre[..., rz].unbind(0)
    rs, zs, d_rns, drec = r.unbind(0), z.unbind(0), d_rec_n.unbind(0), _unbind(d_rec)
    # Without a mask or a keep weight, dh_{t-1} = d_trace_{t-1} + d_in + z ⊙ dh̃: the first
    # product adds d_trace in the same op (``addend``) and one addcmul_ adds the last term.
    simple = plan.recurrent_mask is None and keep_h_c is None
    for t in range(steps - 1, -1, -1):
        d_hn = dh if keep_h_c is None else dh * _at(keep_h_c, t)
        addend = d_trace[t] if simple else None
        d_zn[t].mul_(d_hn.unsqueeze(1))  # d pre_z, d pre_n
        if cell.reset_after:
            d_rs[t].mul_(d_ns[t])
            torch.mul(d_ns[t], rs[t], out=d_rns[t])  # d(W_hn h + b_hn)
            if ln_hh is None:
                d_in = back_rz(d_rzs[t], addend)
                d_in = back_n(d_rns[t], d_in, out=d_in)
            else:
                d_normed = torch.cat((d_rzs[t] * ln_hh[rz], d_rns[t] * ln_hh[n_]), dim=1)
                drec[t].copy_(block_norm_backward(d_normed, raw_a[t], stats_a[t], 3))
                d_in = back_all(drec[t], addend)
        else:
            if ln_hh is None:
                d_rn = d_ns[t]
            else:
                d_rn = block_norm_backward(d_ns[t] * ln_hh[n_], raw_b[t], stats_b[t], 1)
            d_rns[t].copy_(d_rn)
            d_rh = back_n(d_rn)  # d(r ⊙ h_in)
            d_rs[t].mul_(d_rh)
            if ln_hh is None:
                d_rz = d_rzs[t]
            else:
                d_rz = block_norm_backward(d_rzs[t] * ln_hh[rz], raw_a[t], stats_a[t], 2)
                drec[t][:, rz].copy_(d_rz)
            d_in = back_rz(d_rz, addend).addcmul_(d_rh, rs[t])
        carried = d_in if simple else _carry_h(plan, t, dh, d_in, d_trace)
        dh = carried.addcmul_(d_hn, zs[t])  # h̃ = n + z ⊙ (h - n): the path past the mask
    return d_pre, d_rec_n, d_rec, dh


def _gru_weight_grads(ctx, saved: _GRUSaved, d_pre, d_rec_n, d_rec, dh, r, h_prev):
    """The gradients after the loop: ``W_hh``'s, ``b_hn``'s and the layer-norm gain's, each
    one product or reduction over all steps."""
    cell, hidden = ctx.plan.cell, ctx.plan.cell.hidden_size
    b_hn, ln_hh, recurrent_n = saved.b_hn, saved.ln_hh, saved.recurrent_n
    raw_a, raw_b = saved.raw_a, saved.raw_b
    stats_a, stats_b = ctx.stats
    rz, n_ = slice(0, 2 * hidden), slice(2 * hidden, None)
    needs = ctx.needs_input_grad
    d_w_hh = d_b_hn = d_ln_hh = None
    if needs[3]:
        if ln_hh is not None and cell.reset_after:
            d_w_hh = _rows(d_rec).t().mm(_rows(h_prev))
        else:
            first = d_pre[..., rz] if ln_hh is None else d_rec[..., rz]
            second_input = h_prev if cell.reset_after else recurrent_n
            d_w_hh = h_prev.new_empty(3 * hidden, h_prev.shape[-1])  # (3H, H), no cat copy
            torch.mm(_rows(first).t(), _rows(h_prev), out=d_w_hh[rz])
            torch.mm(_rows(d_rec_n).t(), _rows(second_input), out=d_w_hh[n_])
    if b_hn is not None:
        d_b_hn = _reduce(d_pre[..., n_] * r)
    if ln_hh is not None:
        if cell.reset_after:
            d_gained = torch.cat((d_pre[..., rz], d_pre[..., n_] * r), dim=-1)
            d_ln_hh = _reduce(d_gained * _normed(raw_a, stats_a, 3))
        else:
            d_ln_hh = torch.cat((_reduce(d_pre[..., rz] * _normed(raw_a, stats_a, 2)),
                                 _reduce(d_pre[..., n_] * _normed(raw_b, stats_b, 1))))
    return None, d_pre, dh, d_w_hh, d_b_hn, d_ln_hh


class GRUFunction(torch.autograd.Function):
    """``(plan, x_proj (T,B,3H), h_0, W_hh, b_hn, ln_hh) -> h_all (T+1,B,H)``; with
    ``plan.save`` the gates overwrite ``x_proj`` (:func:`_gate_buffer`).

    ``x_proj`` already holds every bias that only adds (``b_ih``, and ``b_hh`` except ``b_hn``
    in the reset-after form, where it is multiplied by r)."""

    @staticmethod
    def forward(ctx, plan, x_proj, h_0, w_hh, b_hn, ln_hh):
        h_all, saved, ctx.stats = _gru_forward(plan, x_proj, h_0, w_hh, b_hn, ln_hh)
        ctx.plan = plan
        ctx.save_for_backward(w_hh, b_hn, ln_hh, *saved)
        return h_all

    @staticmethod
    @first_order("GRU (bptt kernel)", BPTT_FIX)
    def backward(ctx, d_h_all):
        return _gru_backward(ctx, d_h_all)


# ---------------------------------------------------------------------------------------------
# RNN: h̃ = act(x_proj + LN(W_hh h_in)).


def _rnn_forward(plan, x_proj, h_0, w_hh, ln_hh):
    cell, save = plan.cell, plan.save
    steps, batch, hidden = x_proj.shape
    h_all = x_proj.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
    h_all[0] = h_0
    if plan.fused:
        relu = builtin_name(cell.activation) == "relu"
        fused_loop.module().rnn_forward(x_proj, h_all, w_hh, relu, plan.lengths)
        return h_all, (h_all, None, None), None
    h_new = h_all[1:] if plan.keep_h is None else _steps(x_proj, steps, (batch, hidden), save)
    rec_raw = _steps(x_proj, steps, (batch, hidden), save) if ln_hh is not None else None
    stats = [] if save else None
    act_into = _into(cell.activation)
    recurrent = RepeatedProduct(w_hh, batch)  # W_hh h_in: (B, H) -> (B, H)
    xs, hs, hns = x_proj.unbind(0), h_all.unbind(0), h_new.unbind(0)
    raws = _unbind(rec_raw)
    mask = plan.recurrent_mask
    for t in range(steps):
        h_in = hs[t] if mask is None else hs[t] * mask
        if ln_hh is None:
            recurrent(h_in, xs[t], out=hns[t])
        else:
            normed = _ln_forward(recurrent(h_in, out=raws[t]), 1, stats)
            torch.addcmul(xs[t], normed, ln_hh, out=hns[t])
        act_into(hns[t], hns[t])
        if plan.keep_h is not None:
            torch.lerp(hns[t], hs[t], _at(plan.keep_h, t), out=hs[t + 1])
    # h_new is saved only when it is its own buffer: a view of the output h_all is rebuilt.
    return h_all, (h_all, None if plan.keep_h is None else h_new, rec_raw), stats


def _rnn_backward(ctx, d_trace):
    plan, cell = ctx.plan, ctx.plan.cell
    w_hh, ln_hh, h_all, h_new, rec_raw = ctx.saved_tensors
    h_new = h_all[1:] if h_new is None else h_new
    steps = h_new.shape[0]
    needs_w_hh = ctx.needs_input_grad[3]
    if plan.fused:
        d_pre = torch.empty_like(h_new)  # (T, B, H)
        dh = fused_loop.module().rnn_backward(h_all, w_hh, d_trace, d_pre,
                                              builtin_name(cell.activation) == "relu",
                                              plan.lengths)
        d_w_hh = _rows(d_pre).t().mm(_rows(h_all[:-1])) if needs_w_hh else None
        return None, d_pre, dh, d_w_hh, None
    d_pre = cell.activation.grad_from_output(h_new).contiguous()  # (T, B, H)
    keep_h_c = _complement(plan.keep_h)
    d_trace = d_trace.contiguous()
    dh = d_trace[-1].clone()
    dps = d_pre.unbind(0)
    h_prev = _prev_inputs(plan, h_all)  # (T, B, H): h_in of every step
    norm_grads = None if ln_hh is None else _RecurrentNormGrads(
        ln_hh, rec_raw, ctx.stats, 1, h_prev, w_hh if needs_w_hh else None)
    simple = plan.recurrent_mask is None and plan.keep_h is None and ln_hh is None
    recurrent_back = RepeatedProduct(w_hh.t(), dh.shape[0])  # d pre · W_hh: (B, H) -> (B, H)
    for t in range(steps - 1, -1, -1):
        dps[t].mul_(dh if keep_h_c is None else dh * _at(keep_h_c, t))
        if simple:
            dh = recurrent_back(dps[t], d_trace[t], out=dh)
            continue
        d_rec = dps[t] if norm_grads is None else norm_grads.step(t, dps[t])  # d(W_hh h_in)
        dh = _carry_h(plan, t, dh, recurrent_back(d_rec), d_trace)
    if norm_grads is not None:
        return None, d_pre, dh, norm_grads.d_w_hh, norm_grads.d_gain.sum(0)
    d_w_hh = _rows(d_pre).t().mm(_rows(h_prev)) if needs_w_hh else None
    return None, d_pre, dh, d_w_hh, None


class RNNFunction(torch.autograd.Function):
    """``(plan, x_proj (T,B,H), h_0, W_hh, ln_hh) -> h_all (T+1,B,H)`` (biases in x_proj)."""

    @staticmethod
    def forward(ctx, plan, x_proj, h_0, w_hh, ln_hh):
        h_all, saved, ctx.stats = _rnn_forward(plan, x_proj, h_0, w_hh, ln_hh)
        ctx.plan = plan
        ctx.save_for_backward(w_hh, ln_hh, *saved)
        return h_all

    @staticmethod
    @first_order("RNN (bptt kernel)", BPTT_FIX)
    def backward(ctx, d_h_all):
        return _rnn_backward(ctx, d_h_all)


# ---------------------------------------------------------------------------------------------
# the kernel


def _fold_biases(weights: DirectionWeights, cell: CellConfig) -> tuple[DirectionWeights, Tensor]:
    """Move every part of ``b_hh`` that only adds to a pre-activation into ``b_ih``.

    Returns the weights for ``input_projection`` and ``b_hn``: the GRU reset-after part of
    ``b_hh`` that r multiplies (``None`` otherwise).
    """
    if weights.b_hh is None:
        return weights, None
    if cell.kind == "gru" and cell.reset_after:
        rows = 2 * cell.hidden_size
        folded = torch.cat((weights.b_ih[:rows] + weights.b_hh[:rows], weights.b_ih[rows:]))
        return weights._replace(b_ih=folded), weights.b_hh[rows:]
    return weights._replace(b_ih=weights.b_ih + weights.b_hh), None


def _keep(zone: Tensor | float, running: Tensor | None) -> Tensor | float | None:
    """The per-step keep-previous weight: zoneout's, and 1 after a sequence has ended."""
    if running is None:
        return None if not isinstance(zone, Tensor) and zone == 0.0 else zone
    return 1.0 - running * (1.0 - zone)


def _plan(cell: CellConfig, noise: DirectionNoise, lengths: Tensor | None, like: Tensor,
          save: bool, norm_hh: bool) -> _Plan:
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
    return _Plan(cell=cell, recurrent_mask=noise.recurrent_mask, keep_h=keep_h, keep_c=keep_c,
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
        h_all, c_n = _call(LSTMFunction, save, plan, projected, state[0], state[1], weights.w_hh,
                           weights.w_hr, weights.ln_hh, weights.ln_c_weight, weights.ln_c_bias,
                           weights.w_ci, weights.w_cf, weights.w_co)
        final = (h_all[-1], c_n)
    elif cell.kind == "gru":
        h_all = _call(GRUFunction, save, plan, projected, state[0], weights.w_hh, b_hn,
                      weights.ln_hh)
        final = (h_all[-1],)
    else:
        h_all = _call(RNNFunction, save, plan, projected, state[0], weights.w_hh, weights.ln_hh)
        final = (h_all[-1],)
    output = h_all[1:]  # (T, B, H_out)
    if plan.running is not None:
        output = output * plan.running
    return output, final, None

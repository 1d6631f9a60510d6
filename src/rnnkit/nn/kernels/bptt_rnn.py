"""The bptt kernel's vanilla RNN: ``h̃ = act(x_proj + LN_hh(W_hh h_in))`` (``h_in = h ⊙ mask``
with recurrent dropout; ``config.GATES`` gives it one "gate", its new state). See ``bptt`` for
what runs where and ``bptt_common`` for the shared pieces.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.nn.activations import builtin_name
from rnnkit.nn.kernels import bptt_common as common
from rnnkit.nn.kernels import fused_loop
from rnnkit.nn.kernels.products import RepeatedProduct


class RNNWeights(NamedTuple):
    """The recurrent weights, :class:`RNNFunction`'s last inputs (``None``: not configured)."""

    w_hh: Tensor  # (H, H)
    ln_hh: Tensor | None  # (H,), the gain of LN_hh


class RNNSteps(NamedTuple):
    """What the forward keeps of every step for the backward (saved after the weights)."""

    h_all: Tensor  # (T+1, B, H): h_0 … h_T
    h_new: Tensor | None  # (T, B, H), h̃ where zoneout or lengths keep h; None: h_all[1:]
    hh_raw: Tensor | None  # (T, B, H), W_hh h_in before LN_hh (with layer norm)


def forward_pass(plan: common.Plan, x_proj: Tensor, h_0: Tensor,
                 weights: RNNWeights) -> tuple[Tensor, RNNSteps, list | None]:
    """The recurrence over ``x_proj (T, B, H)``: ``h_all``, the steps kept and LN_hh's
    ``(mean, 1/σ)`` of every step (with layer norm in training)."""
    cell, save = plan.cell, plan.save
    w_hh, ln_hh = weights
    steps, batch, hidden = x_proj.shape
    h_all = x_proj.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
    h_all[0] = h_0
    if plan.fused:
        relu = builtin_name(cell.activation) == "relu"
        fused_loop.module().rnn_forward(x_proj, h_all, w_hh, relu, plan.lengths)
        return h_all, RNNSteps(h_all, None, None), None
    h_new = common.new_states(plan.keep_h, h_all, save)  # (T, B, H)
    hh_raw = None
    if ln_hh is not None:
        hh_raw = common.step_buffer(x_proj, steps, (batch, hidden), save)
    stats = [] if save else None
    act_into = common.activation_into(cell.activation)
    recurrent = RepeatedProduct(w_hh, batch)  # W_hh h_in: (B, H) -> (B, H)
    xs, hs, hns = x_proj.unbind(0), h_all.unbind(0), h_new.unbind(0)  # per-step views (B, H)
    raws = common.unbind_steps(hh_raw)
    mask = plan.recurrent_mask
    for t in range(steps):
        h_in = hs[t] if mask is None else hs[t] * mask
        if ln_hh is None:
            recurrent(h_in, xs[t], out=hns[t])
        else:
            normed = common.ln_forward(recurrent(h_in, out=raws[t]), 1, stats)
            torch.addcmul(xs[t], normed, ln_hh, out=hns[t])
        act_into(hns[t], hns[t])
        if plan.keep_h is not None:
            torch.lerp(hns[t], hs[t], common.at_step(plan.keep_h, t), out=hs[t + 1])
    # h_new is saved only when it is its own buffer: a view of the output h_all is rebuilt.
    return h_all, RNNSteps(h_all, None if plan.keep_h is None else h_new, hh_raw), stats


def backward_pass(ctx, d_trace: Tensor) -> tuple:
    """The gradients of :class:`RNNFunction`'s inputs, in their order."""
    plan, cell = ctx.plan, ctx.plan.cell
    weights, kept = common.saved_as(ctx, RNNWeights, RNNSteps)
    w_hh, ln_hh = weights
    h_all = kept.h_all
    h_new = h_all[1:] if kept.h_new is None else kept.h_new
    steps = h_new.shape[0]
    needs_w_hh = common.weights_needing_grad(ctx, RNNWeights).w_hh
    if plan.fused:
        d_pre = torch.empty_like(h_new)  # (T, B, H)
        dh = fused_loop.module().rnn_backward(h_all, w_hh, d_trace, d_pre,
                                              builtin_name(cell.activation) == "relu",
                                              plan.lengths)
        d_w_hh = common.as_rows(d_pre).t().mm(common.as_rows(h_all[:-1])) if needs_w_hh else None
        return None, d_pre, dh, *RNNWeights(w_hh=d_w_hh, ln_hh=None)
    d_pre = cell.activation.grad_from_output(h_new).contiguous()  # (T, B, H)
    keep_h_c = common.complement(plan.keep_h)
    d_trace = d_trace.contiguous()
    dh = d_trace[-1].clone()
    dps = d_pre.unbind(0)
    h_prev = common.prev_inputs(plan, h_all)  # (T, B, H): h_in of every step
    norm_grads = None if ln_hh is None else common.RecurrentNormGrads(
        ln_hh, kept.hh_raw, ctx.stats, 1, h_prev, w_hh if needs_w_hh else None)
    simple = plan.recurrent_mask is None and plan.keep_h is None and ln_hh is None
    recurrent_back = RepeatedProduct(w_hh.t(), dh.shape[0])  # d pre · W_hh: (B, H) -> (B, H)
    for t in range(steps - 1, -1, -1):
        dps[t].mul_(dh if keep_h_c is None else dh * common.at_step(keep_h_c, t))
        if simple:
            dh = recurrent_back(dps[t], d_trace[t], out=dh)
            continue
        d_rec = dps[t] if norm_grads is None else norm_grads.step(t, dps[t])  # d(W_hh h_in)
        dh = common.carry_h(plan, t, dh, recurrent_back(d_rec), d_trace)
    if norm_grads is not None:
        return None, d_pre, dh, *RNNWeights(w_hh=norm_grads.d_w_hh,
                                            ln_hh=norm_grads.d_gain.sum(0))
    d_w_hh = common.as_rows(d_pre).t().mm(common.as_rows(h_prev)) if needs_w_hh else None
    return None, d_pre, dh, *RNNWeights(w_hh=d_w_hh, ln_hh=None)


RNNFunction = common.one_state_function(
    "RNN", RNNWeights, forward_pass, backward_pass,
    """``(plan, x_proj (T,B,H), h_0, *RNNWeights) -> h_all (T+1,B,H)`` (biases in x_proj).""")

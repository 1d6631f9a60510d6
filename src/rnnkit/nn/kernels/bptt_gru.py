"""The bptt kernel's GRU: gates r, z, n (``config.GATES``); ``gates (T, B, 3H)`` holds the
activated gates of every step.

    r, z = σ(x_r + LN(W_hr h_in), x_z + LN(W_hz h_in))
    reset after (torch's form):  n = act(x_n + r ⊙ (LN(W_hn h_in) + b_hn))
    reset before:                n = act(x_n + LN(W_hn (r ⊙ h_in)))
    h̃ = (1 - z) ⊙ n + z ⊙ h

``recurrent_n`` keeps the recurrent part of n per step: ``W_hn h + b_hn`` (reset after, it is
multiplied by r) or ``r ⊙ h_in`` (reset before). See ``bptt`` for what runs where and
``bptt_common`` for the shared pieces.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.nn.kernels import bptt_common as common
from rnnkit.nn.kernels import fused_loop
from rnnkit.nn.kernels.gate_norm import block_norm_backward
from rnnkit.nn.kernels.products import RepeatedProduct


class GRUWeights(NamedTuple):
    """The recurrent weights, :class:`GRUFunction`'s last inputs (``None``: not configured)."""

    w_hh: Tensor  # (3H, H)
    b_hn: Tensor | None  # (H,), the part of b_hh that r multiplies (reset after)
    ln_hh: Tensor | None  # (3H,), the gain of LN_hh


class GRUSteps(NamedTuple):
    """What the forward keeps of every step for the backward (saved after the weights)."""

    gates: Tensor  # (T, B, 3H), the activated gates
    h_all: Tensor  # (T+1, B, H): h_0 … h_T
    recurrent_n: Tensor  # (T or 1, B, H), see the module's docstring
    hh_raw: Tensor | None  # (T, B, 3H or 2H), W_hh h_in before LN_hh (reset before: r, z)
    hn_raw: Tensor | None  # (T, B, H), W_hn (r ⊙ h_in) before LN_hh (reset before)


class GRUNormStats(NamedTuple):
    """LN_hh's ``(mean, 1/σ)`` of every step, lists of ``(B, k, 1)`` pairs (``None``: none)."""

    hh: list | None  # of hh_raw's blocks
    hn: list | None  # of hn_raw


def forward_pass(plan: common.Plan, x_proj: Tensor, h_0: Tensor,
                 weights: GRUWeights) -> tuple[Tensor, GRUSteps, GRUNormStats]:
    """The recurrence over ``x_proj (T, B, 3H)``: ``h_all``, the steps kept and the layer
    norm's statistics."""
    if plan.fused:
        return _forward_compiled(plan, x_proj, h_0, weights)
    cell, save = plan.cell, plan.save
    w_hh, b_hn, ln_hh = weights
    steps, batch, _ = x_proj.shape
    hidden = cell.hidden_size
    gates = common.gate_buffer(x_proj, save)  # (T, B, 3H)
    h_all = x_proj.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
    h_all[0] = h_0
    h_new = common.new_states(plan.keep_h, h_all, save)  # (T, B, H)
    recurrent_n = common.step_buffer(x_proj, steps, (batch, hidden), save)
    # With layer norm, W_hh h_in (reset after: all 3 blocks; before: r, z) and W_hn (r ⊙ h_in).
    blocks = 3 if cell.reset_after else 2
    hh_raw = hn_raw = None
    if ln_hh is not None:
        hh_raw = common.step_buffer(x_proj, steps, (batch, blocks * hidden), save)
        if not cell.reset_after:
            hn_raw = common.step_buffer(x_proj, steps, (batch, hidden), save)
    stats = GRUNormStats([], []) if save else GRUNormStats(None, None)
    gate_into = common.activation_into(cell.recurrent_activation)
    act_into = common.activation_into(cell.activation)
    rz, n_ = common.gate_columns(cell, "r", "z"), common.gate_columns(cell, "n")
    # W_hh h_in: (B, H) -> (B, 2H) for r, z and (B, H) for n; with layer norm in the
    # reset-after form, all three blocks at once (they are normalised together).
    product_rz = RepeatedProduct(w_hh[rz], batch)
    product_n = RepeatedProduct(w_hh[n_], batch)
    product_all = RepeatedProduct(w_hh, batch) if ln_hh is not None and cell.reset_after else None
    # per-step views (B, ·), made once: xrz[t] is step t's r, z columns of x_proj, …
    xrz, xn = x_proj[..., rz].unbind(0), x_proj[..., n_].unbind(0)
    grz, gn = gates[..., rz].unbind(0), gates[..., n_].unbind(0)
    rs = gates[..., common.gate_columns(cell, "r")].unbind(0)
    zs = gates[..., common.gate_columns(cell, "z")].unbind(0)
    hs, hns, rns = h_all.unbind(0), h_new.unbind(0), recurrent_n.unbind(0)
    hh_raws, hn_raws = common.unbind_steps(hh_raw), common.unbind_steps(hn_raw)
    mask = plan.recurrent_mask
    for t in range(steps):
        h_in = hs[t] if mask is None else hs[t] * mask
        if ln_hh is None:
            product_rz(h_in, xrz[t], out=grz[t])
        else:
            raw = (product_all or product_rz)(h_in, out=hh_raws[t])
            normed = common.ln_forward(raw, blocks, stats.hh)
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
                normed = common.ln_forward(product_n(rns[t], out=hn_raws[t]), 1, stats.hn)
                torch.addcmul(xn[t], normed, ln_hh[n_], out=gn[t])
        act_into(gn[t], gn[t])
        torch.lerp(gn[t], hs[t], zs[t], out=hns[t])  # h̃ = (1 - z) ⊙ n + z ⊙ h
        if plan.keep_h is not None:
            torch.lerp(hns[t], hs[t], common.at_step(plan.keep_h, t), out=hs[t + 1])
    return h_all, GRUSteps(gates, h_all, recurrent_n, hh_raw, hn_raw), stats


def _forward_compiled(plan: common.Plan, x_proj: Tensor, h_0: Tensor,
                      weights: GRUWeights) -> tuple[Tensor, GRUSteps, GRUNormStats]:
    """:func:`forward_pass` by the compiled loops; the gates overwrite ``x_proj`` here too."""
    steps, batch, _ = x_proj.shape
    hidden = plan.cell.hidden_size
    gates = x_proj.contiguous()  # (T, B, 3H)
    h_all = x_proj.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
    h_all[0] = h_0
    recurrent_n = x_proj.new_empty(steps if plan.save else 1, batch, hidden)  # (T or 1, B, H)
    fused_loop.module().gru_forward(gates, h_all, weights.w_hh, weights.b_hn, recurrent_n,
                                    plan.cell.reset_after, plan.lengths)
    return h_all, GRUSteps(gates, h_all, recurrent_n, None, None), GRUNormStats(None, None)


class _StepGrads(NamedTuple):
    """What the backward loop hands to :func:`_weight_grads`."""

    d_pre: Tensor  # (T, B, 3H), d(pre-activations)
    d_recurrent_n: Tensor  # (T, B, H), d recurrent_n (after LN_hh with layer norm)
    d_hh: Tensor | None  # (T, B, 3H), d(W_hh ·) per block with layer norm
    dh: Tensor  # (B, H), d h_0


def backward_pass(ctx, d_trace: Tensor) -> tuple:
    """The gradients of :class:`GRUFunction`'s inputs, in their order."""
    plan, cell = ctx.plan, ctx.plan.cell
    weights, kept = common.saved_as(ctx, GRUWeights, GRUSteps)
    h_prev = common.prev_inputs(plan, kept.h_all)  # (T, B, H) h_in of every step
    if plan.fused:
        d_pre = torch.empty_like(kept.gates)
        d_recurrent_n = torch.empty_like(kept.recurrent_n)
        dh = fused_loop.module().gru_backward(kept.gates, kept.h_all, kept.recurrent_n,
                                              weights.w_hh, d_trace, d_pre, d_recurrent_n,
                                              cell.reset_after, plan.lengths)
        grads = _StepGrads(d_pre, d_recurrent_n, None, dh)
    else:
        grads = _backward_loop(ctx, weights, kept, d_trace, h_prev)
    return (None, grads.d_pre, grads.dh, *_weight_grads(ctx, weights, kept, grads, h_prev))


def _backward_loop(ctx, weights: GRUWeights, kept: GRUSteps, d_trace: Tensor,
                   h_prev: Tensor) -> _StepGrads:
    """The backward loop in Python."""
    plan, cell = ctx.plan, ctx.plan.cell
    w_hh, _, ln_hh = weights
    gates, h_all, recurrent_n = kept.gates, kept.h_all, kept.recurrent_n
    stats = ctx.stats
    steps = gates.shape[0]
    hidden = cell.hidden_size
    gate, act = cell.recurrent_activation, cell.activation
    r_, z_, n_ = (common.gate_columns(cell, name) for name in ("r", "z", "n"))
    rz = common.gate_columns(cell, "r", "z")
    r, z, n = gates[..., r_], gates[..., z_], gates[..., n_]  # each (T, B, H)
    d_pre = torch.empty_like(gates)  # (T, B, 3H): coefficients, then d(pre-activations)
    first = recurrent_n if cell.reset_after else h_prev  # d pre_r = d(r·first) ⊙ σ'(r)
    common.times_grad(gate, first, r, out=d_pre[..., r_])
    common.times_grad(gate, h_all[:-1] - n, z, out=d_pre[..., z_])
    common.times_grad(act, 1.0 - z, n, out=d_pre[..., n_])
    d_recurrent_n = torch.empty_like(recurrent_n)  # d(W_hn h + b_hn) or d(pre_n) after LN
    d_hh = torch.empty_like(gates) if ln_hh is not None else None  # d(W_hh ·) per block
    keep_h_c = common.complement(plan.keep_h)
    batch = h_all.shape[1]
    # d pre · W_hh, per block: (B, 2H) -> (B, H) for r, z; (B, H) -> (B, H) for n
    back_rz, back_n = RepeatedProduct(w_hh[rz].t(), batch), RepeatedProduct(w_hh[n_].t(), batch)
    back_all = RepeatedProduct(w_hh.t(), batch) if ln_hh is not None else None
    d_trace = d_trace.contiguous()
    dh = d_trace[-1].clone()
    # per-step views (B, ·), made once: d_zn[t] is step t's z, n blocks of d_pre, …
    d_zn = d_pre[..., common.gate_columns(cell, "z", "n")].unflatten(-1, (-1, hidden)).unbind(0)
    d_rs, d_ns = d_pre[..., r_].unbind(0), d_pre[..., n_].unbind(0)
    d_rzs = d_pre[..., rz].unbind(0)
    rs, zs = r.unbind(0), z.unbind(0)
    d_rns, d_hhs = d_recurrent_n.unbind(0), common.unbind_steps(d_hh)
    # Without a mask or a keep weight, dh_{t-1} = d_trace_{t-1} + d_in + z ⊙ dh̃: the first
    # product adds d_trace in the same op (``addend``) and one addcmul_ adds the last term.
    simple = plan.recurrent_mask is None and keep_h_c is None
    for t in range(steps - 1, -1, -1):
        d_hn = dh if keep_h_c is None else dh * common.at_step(keep_h_c, t)
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
                d_hhs[t].copy_(block_norm_backward(d_normed, kept.hh_raw[t], stats.hh[t], 3))
                d_in = back_all(d_hhs[t], addend)
        else:
            if ln_hh is None:
                d_rn = d_ns[t]
            else:
                d_rn = block_norm_backward(d_ns[t] * ln_hh[n_], kept.hn_raw[t], stats.hn[t], 1)
            d_rns[t].copy_(d_rn)
            d_rh = back_n(d_rn)  # d(r ⊙ h_in)
            d_rs[t].mul_(d_rh)
            if ln_hh is None:
                d_rz = d_rzs[t]
            else:
                d_rz = block_norm_backward(d_rzs[t] * ln_hh[rz], kept.hh_raw[t], stats.hh[t], 2)
                d_hhs[t][:, rz].copy_(d_rz)
            d_in = back_rz(d_rz, addend).addcmul_(d_rh, rs[t])
        carried = d_in if simple else common.carry_h(plan, t, dh, d_in, d_trace)
        dh = carried.addcmul_(d_hn, zs[t])  # h̃ = n + z ⊙ (h - n): the path past the mask
    return _StepGrads(d_pre, d_recurrent_n, d_hh, dh)


def _weight_grads(ctx, weights: GRUWeights, kept: GRUSteps, grads: _StepGrads,
                  h_prev: Tensor) -> GRUWeights:
    """The gradients after the loop: ``W_hh``'s, ``b_hn``'s and the layer-norm gain's, each
    one product or reduction over all steps."""
    cell, hidden = ctx.plan.cell, ctx.plan.cell.hidden_size
    stats = ctx.stats
    d_pre, d_hh = grads.d_pre, grads.d_hh
    r = kept.gates[..., common.gate_columns(cell, "r")]  # (T, B, H)
    rz, n_ = common.gate_columns(cell, "r", "z"), common.gate_columns(cell, "n")
    d_w_hh = d_b_hn = d_ln_hh = None
    if common.weights_needing_grad(ctx, GRUWeights).w_hh:
        if weights.ln_hh is not None and cell.reset_after:
            d_w_hh = common.as_rows(d_hh).t().mm(common.as_rows(h_prev))
        else:
            first = d_pre[..., rz] if weights.ln_hh is None else d_hh[..., rz]
            second_input = h_prev if cell.reset_after else kept.recurrent_n
            d_w_hh = h_prev.new_empty(3 * hidden, h_prev.shape[-1])  # (3H, H), no cat copy
            torch.mm(common.as_rows(first).t(), common.as_rows(h_prev), out=d_w_hh[rz])
            torch.mm(common.as_rows(grads.d_recurrent_n).t(), common.as_rows(second_input),
                     out=d_w_hh[n_])
    if weights.b_hn is not None:
        d_b_hn = common.sum_steps(d_pre[..., n_] * r)
    if weights.ln_hh is not None:
        if cell.reset_after:
            d_gained = torch.cat((d_pre[..., rz], d_pre[..., n_] * r), dim=-1)
            d_ln_hh = common.sum_steps(d_gained * common.normed_steps(kept.hh_raw, stats.hh, 3))
        else:
            d_ln_hh = torch.cat((
                common.sum_steps(d_pre[..., rz] * common.normed_steps(kept.hh_raw, stats.hh, 2)),
                common.sum_steps(d_pre[..., n_] * common.normed_steps(kept.hn_raw, stats.hn, 1))))
    return GRUWeights(w_hh=d_w_hh, b_hn=d_b_hn, ln_hh=d_ln_hh)


GRUFunction = common.one_state_function(
    "GRU", GRUWeights, forward_pass, backward_pass,
    """``(plan, x_proj (T,B,3H), h_0, *GRUWeights) -> h_all (T+1,B,H)``; with ``plan.save``
    the gates overwrite ``x_proj`` (``bptt_common.gate_buffer``).

    ``x_proj`` already holds every bias that only adds (``b_ih``, and ``b_hh`` except ``b_hn``
    in the reset-after form, where it is multiplied by r).""")

"""The bptt kernel's LSTM: gates i, f, g, o (``config.GATES``); ``gates (T, B, 4H)`` holds the
activated gates of every step.

    i, f, o = σ(pre_i, pre_f (+ w_c{i,f} ⊙ c), pre_o (+ w_co ⊙ c̃)),  g = act(pre_g)
    pre = x_proj + LN_hh(W_hh h_in),  c̃ = f ⊙ c + i ⊙ g,  h̃ = W_hr (o ⊙ act(LN_c(c̃)))

(``W_hr`` with a projection only; ``h_in = h ⊙ mask`` with recurrent dropout.) See ``bptt`` for
what runs where and ``bptt_common`` for the shared pieces.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.nn.activations import builtin_name
from rnnkit.nn.functional import LAYER_NORM_EPS, DirectionWeights
from rnnkit.nn.kernels import bptt_common as common
from rnnkit.nn.kernels import dispatch, fused_loop
from rnnkit.nn.kernels.first_order import BPTT_FIX, first_order
from rnnkit.nn.kernels.products import RepeatedProduct


class LSTMWeights(NamedTuple):
    """The recurrent weights, :class:`LSTMFunction`'s last inputs (``None``: not configured)."""

    w_hh: Tensor  # (4H, P)
    w_hr: Tensor | None  # (P, H), the projection
    ln_hh: Tensor | None  # (4H,), the gain of LN_hh
    ln_c_weight: Tensor | None  # (H,), LN_c's gain and shift
    ln_c_bias: Tensor | None  # (H,)
    w_ci: Tensor | None  # (H,) each, the peephole weights
    w_cf: Tensor | None
    w_co: Tensor | None

    @classmethod
    def of(cls, weights: DirectionWeights) -> LSTMWeights:
        """The recurrent weights of one direction's weights."""
        return cls._make(getattr(weights, name) for name in cls._fields)


class LSTMSteps(NamedTuple):
    """What the forward keeps of every step for the backward (saved after the weights)."""

    gates: Tensor  # (T, B, 4H), the activated gates
    h_all: Tensor  # (T+1, B, P): h_0 … h_T
    c_all: Tensor  # (T+1, B, H): c_0 … c_T
    c_new: Tensor | None  # (T, B, H), c̃ where zoneout or lengths keep c; None: c_all[1:]
    act_c: Tensor  # (T, B, H), act(LN_c(c̃))
    unprojected: Tensor | None  # (T, B, H), o ⊙ act_c before W_hr (with a projection)
    hh_raw: Tensor | None  # (T, B, 4H), W_hh h_in before LN_hh (with layer norm)


class LSTMNormStats(NamedTuple):
    """The layer norms' ``(mean, 1/σ)`` of every step: lists of ``(B, k, 1)`` pairs from the
    Python loop, ``(T, B, 4, 2)`` and ``(T, B, 2)`` tensors from the compiled one."""

    hh: list | Tensor | None  # LN_hh, 4 blocks
    c: list | Tensor | None  # LN_c


def forward_pass(plan: common.Plan, x_proj: Tensor, h_0: Tensor, c_0: Tensor,
            weights: LSTMWeights) -> tuple[Tensor, Tensor, LSTMSteps, LSTMNormStats]:
    """The recurrence over ``x_proj (T, B, 4H)``: ``h_all``, ``c_all``, the steps kept and the
    layer norms' statistics."""
    if plan.fused:
        return _forward_compiled(plan, x_proj, h_0, c_0, weights)
    cell, save = plan.cell, plan.save
    w_hh, w_hr, ln_hh, ln_c_weight, ln_c_bias, w_ci, w_cf, w_co = weights
    steps, batch, _ = x_proj.shape
    hidden, out_size = cell.hidden_size, h_0.shape[-1]
    gates = common.gate_buffer(x_proj, save)  # (T, B, 4H)
    h_all = x_proj.new_empty(steps + 1, batch, out_size)  # (T+1, B, P): h_0 … h_T
    c_all = x_proj.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
    h_all[0], c_all[0] = h_0, c_0
    c_new = common.new_states(plan.keep_c, c_all, save)  # (T, B, H)
    h_new = common.new_states(plan.keep_h, h_all, save)  # (T, B, P)
    act_c = common.step_buffer(x_proj, steps, (batch, hidden), save)  # act(LN_c(c̃))
    unprojected = hh_raw = None
    if w_hr is not None:
        unprojected = common.step_buffer(x_proj, steps, (batch, hidden), save)
    if ln_hh is not None:
        hh_raw = common.step_buffer(x_proj, steps, (batch, 4 * hidden), save)
    stats = LSTMNormStats([], []) if save else LSTMNormStats(None, None)
    gate_into = common.activation_into(cell.recurrent_activation)
    act_into = common.activation_into(cell.activation)
    recurrent = RepeatedProduct(w_hh, batch)  # W_hh h_in: (B, P) -> (B, 4H)
    project = None if w_hr is None else RepeatedProduct(w_hr, batch)  # W_hr m: (B, H) -> (B, P)
    w_cif = None if w_ci is None else torch.stack((w_ci, w_cf))  # (2, H)
    # per-step views (B, ·), made once: xs[t] is x_proj[t], ifs[t] gates i and f of step t, …
    xs, gs, hs, cs = x_proj.unbind(0), gates.unbind(0), h_all.unbind(0), c_all.unbind(0)
    ifs = gates[..., common.gate_columns(cell, "i", "f")].unbind(0)
    is_, fs, gcs, os = (gates[..., common.gate_columns(cell, name)].unbind(0)
                        for name in ("i", "f", "g", "o"))
    cns, hns, acs = c_new.unbind(0), h_new.unbind(0), act_c.unbind(0)
    ms, raws = common.unbind_steps(unprojected), common.unbind_steps(hh_raw)
    mask = plan.recurrent_mask
    for t in range(steps):
        h_in = hs[t] if mask is None else hs[t] * mask
        if ln_hh is None:
            recurrent(h_in, xs[t], out=gs[t])  # (B, 4H) pre-activations
        else:
            normed = common.ln_forward(recurrent(h_in, out=raws[t]), 4, stats.hh)
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
        if ln_c_weight is None:
            act_into(cns[t], acs[t])
        else:
            c_out, mean, rstd = torch.native_layer_norm(cns[t], (hidden,), ln_c_weight, ln_c_bias,
                                                        LAYER_NORM_EPS)
            if save:
                stats.c.append((mean, rstd))
            act_into(c_out, acs[t])
        if w_hr is None:
            torch.mul(os[t], acs[t], out=hns[t])
        else:
            torch.mul(os[t], acs[t], out=ms[t])
            project(ms[t], out=hns[t])  # (B, P)
        if plan.keep_h is not None:
            torch.lerp(hns[t], hs[t], common.at_step(plan.keep_h, t), out=hs[t + 1])
        if plan.keep_c is not None:
            torch.lerp(cns[t], cs[t], common.at_step(plan.keep_c, t), out=cs[t + 1])
    # c_new is saved only when it is its own buffer: a view of c_all is rebuilt in backward.
    own_c_new = None if plan.keep_c is None else c_new
    return h_all, c_all, LSTMSteps(gates, h_all, c_all, own_c_new, act_c, unprojected,
                                   hh_raw), stats


def _compiled_loop_arguments(plan: common.Plan, kept: LSTMSteps, weights: LSTMWeights,
                             stats: LSTMNormStats) -> tuple:
    """What the compiled LSTM loop's forward and backward both take first, in its order: the
    buffers, the weights, the mask, the lengths and whether its own product serves the batch."""
    return (kept.gates, kept.h_all, kept.c_all, kept.act_c, weights.w_hh, plan.recurrent_mask,
            weights.ln_hh, kept.hh_raw, stats.hh, weights.ln_c_weight, weights.ln_c_bias,
            stats.c, plan.lengths, dispatch.lstm_hand_product(kept.gates.shape[1]))


def _gate_kind(plan: common.Plan) -> int:
    """The compiled LSTM loop's code for the recurrent activation (``fused_loop.GATE_KINDS``)."""
    return fused_loop.GATE_KINDS[builtin_name(plan.cell.recurrent_activation)]


def _forward_compiled(plan: common.Plan, x_proj: Tensor, h_0: Tensor, c_0: Tensor,
                      weights: LSTMWeights) -> tuple[Tensor, Tensor, LSTMSteps, LSTMNormStats]:
    """:func:`forward_pass` by the compiled loop (no projection, peephole or keep weights); the
    layer-norm statistics are tensors here."""
    steps, batch, _ = x_proj.shape
    hidden = plan.cell.hidden_size
    kept_steps = steps if plan.save else 1  # per-step buffers: every step, or one reused
    gates = x_proj.contiguous()  # (T, B, 4H): the projection, then the activated gates
    h_all = x_proj.new_empty(steps + 1, batch, hidden)  # (T+1, B, H)
    c_all = x_proj.new_empty(steps + 1, batch, hidden)
    h_all[0], c_all[0] = h_0, c_0
    act_c = x_proj.new_empty(kept_steps, batch, hidden)  # act(LN_c(c̃))
    hh_raw = hh_stats = c_stats = None
    if weights.ln_hh is not None:
        hh_raw = x_proj.new_empty(kept_steps, batch, 4 * hidden)  # W_hh h_in
        hh_stats = x_proj.new_empty(kept_steps, batch, 4, 2)
    if weights.ln_c_weight is not None:
        c_stats = x_proj.new_empty(kept_steps, batch, 2)
    kept = LSTMSteps(gates, h_all, c_all, None, act_c, None, hh_raw)
    stats = LSTMNormStats(hh_stats, c_stats)
    fused_loop.module().lstm_forward(*_compiled_loop_arguments(plan, kept, weights, stats),
                                     _gate_kind(plan), LAYER_NORM_EPS)
    return h_all, c_all, kept, stats


def _backward_compiled(ctx, d_trace: Tensor, d_c_n: Tensor) -> tuple:
    """:func:`backward_pass` by the compiled loop: the loop returns ``d pre`` and the gradients it
    accumulates (layer-norm gains, ``W_hh``'s through the norm); the rest is one product."""
    plan = ctx.plan
    weights, kept = common.saved_as(ctx, LSTMWeights, LSTMSteps)
    needs = common.weights_needing_grad(ctx, LSTMWeights)
    d_pre = torch.empty_like(kept.gates)  # (T, B, 4H)
    dh, dc, d_gain, d_w_hh, d_ln_c_weight, d_ln_c_bias = fused_loop.module().lstm_backward(
        *_compiled_loop_arguments(plan, kept, weights, ctx.stats),
        d_trace, d_c_n, d_pre, _gate_kind(plan), bool(needs.w_hh))
    if weights.ln_hh is None:
        d_gain = None
        d_w_hh = (common.as_rows(d_pre).t().mm(common.as_rows(common.prev_inputs(plan, kept.h_all)))
                  if needs.w_hh else None)
    if weights.ln_c_weight is None:
        d_ln_c_weight = d_ln_c_bias = None
    grads = LSTMWeights(w_hh=d_w_hh, w_hr=None, ln_hh=d_gain, ln_c_weight=d_ln_c_weight,
                        ln_c_bias=d_ln_c_bias, w_ci=None, w_cf=None, w_co=None)
    return (None, d_pre, dh, dc, *grads)


def _coefficients(cell, gates: Tensor, c_all: Tensor, act_c: Tensor) -> tuple[Tensor, Tensor]:
    """Per-step factors ``d pre / d c̃`` (i, f, g) and ``d pre_o / d m``, and ``d m / d c_out``."""
    gate, act = cell.recurrent_activation, cell.activation
    i_, f_, g_, o_ = (common.gate_columns(cell, name) for name in ("i", "f", "g", "o"))
    i, f, g, o = gates[..., i_], gates[..., f_], gates[..., g_], gates[..., o_]  # (T, B, H) each
    coefficients = torch.empty_like(gates)  # (T, B, 4H), becomes d(pre-activations)
    common.times_grad(gate, g, i, out=coefficients[..., i_])  # g ⊙ σ'(i)
    common.times_grad(gate, c_all[:-1], f, out=coefficients[..., f_])  # c ⊙ σ'(f)
    common.times_grad(act, i, g, out=coefficients[..., g_])  # i ⊙ act'(g)
    common.times_grad(gate, act_c, o, out=coefficients[..., o_])  # act(c) ⊙ σ'(o)
    return coefficients, common.times_grad(act, o, act_c)  # o ⊙ act'(c)


def backward_pass(ctx, d_trace: Tensor, d_c_n: Tensor) -> tuple:
    """The gradients of :class:`LSTMFunction`'s inputs, in their order."""
    if ctx.plan.fused:
        return _backward_compiled(ctx, d_trace, d_c_n)
    plan, cell = ctx.plan, ctx.plan.cell
    weights, kept = common.saved_as(ctx, LSTMWeights, LSTMSteps)
    w_hh, w_hr, ln_hh, ln_c_weight, ln_c_bias, w_ci, w_cf, w_co = weights
    gates, h_all, c_all, act_c = kept.gates, kept.h_all, kept.c_all, kept.act_c
    stats = ctx.stats
    steps, batch, _ = gates.shape
    hidden = cell.hidden_size
    i_, f_, o_ = (common.gate_columns(cell, name) for name in ("i", "f", "o"))
    c_new = c_all[1:] if kept.c_new is None else kept.c_new
    d_pre, d_m_to_c = _coefficients(cell, gates, c_all, act_c)
    d_trace = d_trace.contiguous()  # (T+1, B, P): d h_0 … d h_T from outside the recurrence
    dh, dc = d_trace[-1].clone(), d_c_n.clone()
    needs = common.weights_needing_grad(ctx, LSTMWeights)
    h_prev = common.prev_inputs(plan, h_all)  # (T, B, P): h_in of every step
    norm_grads = None if ln_hh is None else common.RecurrentNormGrads(
        ln_hh, kept.hh_raw, stats.hh, 4, h_prev, w_hh if needs.w_hh else None)
    d_h_new = common.step_buffer(d_pre, steps, (batch, h_all.shape[-1]), w_hr is not None)
    d_c_out = torch.empty_like(act_c) if ln_c_weight is not None else None
    keep_h_c, keep_c_c = common.complement(plan.keep_h), common.complement(plan.keep_c)
    # per-step views (B, ·), made once: dps[t] is d_pre[t], d_ifg[t] its i, f, g blocks, …
    fs = gates[..., f_].unbind(0)
    dps = d_pre.unbind(0)
    d_ifg = d_pre[..., common.gate_columns(cell, "i", "g")].unflatten(-1, (-1, hidden)).unbind(0)
    d_is, d_fs, d_os = d_pre[..., i_].unbind(0), d_pre[..., f_].unbind(0), d_pre[..., o_].unbind(0)
    coef_c = d_m_to_c.unbind(0)
    dhns, dcos = d_h_new.unbind(0), common.unbind_steps(d_c_out)
    recurrent_back = RepeatedProduct(w_hh.t(), batch)  # d pre · W_hh: (B, 4H) -> (B, P)
    project_back = None if w_hr is None else RepeatedProduct(w_hr.t(), batch)  # (B, P) -> (B, H)
    for t in range(steps - 1, -1, -1):
        d_hn = dh if keep_h_c is None else dh * common.at_step(keep_h_c, t)
        if w_hr is not None:
            dhns[t].copy_(d_hn)
            d_hn = project_back(d_hn)  # (B, H): gradient of m = o ⊙ act(c_out)
        dc_new = dc if keep_c_c is None else dc * common.at_step(keep_c_c, t)
        if ln_c_weight is None:
            dc_new.addcmul_(d_hn, coef_c[t])
        else:
            torch.mul(d_hn, coef_c[t], out=dcos[t])
            dc_new = dc_new + torch.ops.aten.native_layer_norm_backward(
                dcos[t], c_new[t], (hidden,), *stats.c[t], ln_c_weight, ln_c_bias,
                (True, False, False))[0]
        d_os[t].mul_(d_hn)
        if w_co is not None:
            dc_new.addcmul_(d_os[t], w_co)
        d_ifg[t].mul_(dc_new.unsqueeze(1))
        dc_prev = dc_new.mul_(fs[t]) if keep_c_c is None else dc_new * fs[t] + dc * common.at_step(
            plan.keep_c, t)
        if w_ci is not None:
            dc_prev.addcmul_(d_is[t], w_ci).addcmul_(d_fs[t], w_cf)
        dc = dc_prev
        d_rec = dps[t] if norm_grads is None else norm_grads.step(t, dps[t])  # d(W_hh h_in)
        if plan.recurrent_mask is None and plan.keep_h is None:
            dh = recurrent_back(d_rec, d_trace[t], out=dh)
        else:
            dh = common.carry_h(plan, t, dh, recurrent_back(d_rec), d_trace)
    d_w_hh = None
    if norm_grads is not None:
        d_w_hh = norm_grads.d_w_hh
    elif needs.w_hh:
        d_w_hh = common.as_rows(d_pre).t().mm(common.as_rows(h_prev))
    peephole = w_ci is not None
    grads = LSTMWeights(
        w_hh=d_w_hh,
        w_hr=(common.as_rows(d_h_new).t().mm(common.as_rows(kept.unprojected))
              if w_hr is not None and needs.w_hr else None),
        ln_hh=norm_grads.d_gain.sum(0) if ln_hh is not None else None,
        ln_c_weight=(common.sum_steps(d_c_out * common.normed_steps(c_new, stats.c, 1))
                     if ln_c_weight is not None else None),
        ln_c_bias=common.sum_steps(d_c_out) if ln_c_weight is not None else None,
        w_ci=common.sum_steps(d_pre[..., i_] * c_all[:-1]) if peephole else None,
        w_cf=common.sum_steps(d_pre[..., f_] * c_all[:-1]) if peephole else None,
        w_co=common.sum_steps(d_pre[..., o_] * c_new) if peephole else None,
    )
    return (None, d_pre, dh, dc, *grads)


class LSTMFunction(torch.autograd.Function):
    """``(plan, x_proj (T,B,4H), h_0, c_0, *LSTMWeights) -> (h_all (T+1,B,P), c_n (B,H))``;
    optional weights may be ``None``. With ``plan.save`` the gates overwrite ``x_proj``
    (``bptt_common.gate_buffer``)."""

    @staticmethod
    def forward(ctx, plan, x_proj, h_0, c_0, *weights):
        weights = LSTMWeights._make(weights)
        h_all, c_all, kept, ctx.stats = forward_pass(plan, x_proj, h_0, c_0, weights)
        ctx.plan = plan
        ctx.save_for_backward(*weights, *kept)
        return h_all, c_all[-1].clone()

    @staticmethod
    @first_order("LSTM (bptt kernel)", BPTT_FIX)
    def backward(ctx, d_h_all, d_c_n):
        return backward_pass(ctx, d_h_all, d_c_n)

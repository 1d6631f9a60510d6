"""The bptt kernel's layer norm of the input projection, ``b + gain ⊙ LN(W_ih x)`` per gate
block over all steps, as one ``torch.autograd.Function`` with a backward in chunks of rows.

Differentiated by autograd, ``functional.gate_layer_norm`` over ``(T, B, G*H)`` costs seven
passes over that size in the backward (``AddcmulBackward`` multiplies by the scalar ``value``
too), each into a fresh buffer. Here the forward scales the normalised values in place, and
the backward runs every pass on a chunk of ``dispatch.GATE_NORM_CHUNK_ELEMENTS`` that stays in
cache, writing only ``d pre`` whole; the normalised values are recomputed from the saved
statistics instead of kept (one ``(T, B, G*H)`` buffer less while the graph lives). The
measurements: ``benchmarks/RESULTS.md``, "Dispatch rules: the measurements behind each
threshold", "GATE_NORM_CHUNK_ELEMENTS".

The two per-block helpers below (normalised values from saved statistics, and the gradient
through the normalisation) serve this Function and the bptt kernel's recurrent layer norms.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.nn.functional import LAYER_NORM_EPS
from rnnkit.nn.kernels import dispatch
from rnnkit.nn.kernels.first_order import BPTT_FIX, first_order


def block_normed(raw: Tensor, stats: tuple[Tensor, Tensor], blocks: int) -> Tensor:
    """``n = (a - mean(a)) / σ(a)`` per block, from the saved ``(mean, 1/σ)`` (each
    ``(R, k, 1)``): ``raw (R, k*H) -> (R, k*H)``, a new tensor."""
    rows, width = raw.shape
    mean, rstd = stats
    return (raw.reshape(rows, blocks, width // blocks) - mean).mul_(rstd).view(rows, width)


def block_norm_backward(d_normed: Tensor, raw: Tensor, stats: tuple[Tensor, Tensor],
                        blocks: int) -> Tensor:
    """Gradient through ``n = (a - mean(a)) / σ(a)`` per block: ``(R, k*H) -> (R, k*H)``."""
    rows, width = raw.shape
    shape = (rows, blocks, width // blocks)  # (R, k, H)
    d_raw = torch.ops.aten.native_layer_norm_backward(
        d_normed.reshape(shape), raw.reshape(shape), shape[-1:], *stats, None, None,
        (True, False, False))[0]
    return d_raw.view(rows, width)


class _GateNorm(torch.autograd.Function):
    """``(pre (R, G*H), gain (G*H,), bias (G*H,) or None, blocks) -> (R, G, H)``: the layer
    norm's own output, scaled in place. Not a view of it: the bptt kernel's Function writes its
    gates over its input and saves it for the backward, and autograd refuses to hand back a
    saved view of a custom Function's output once it has been written in place."""

    @staticmethod
    def forward(ctx, pre: Tensor, gain: Tensor, bias: Tensor | None, blocks: int) -> Tensor:
        rows, width = pre.shape
        split = pre.view(rows, blocks, width // blocks)  # (R, G, H)
        normed, mean, rstd = torch.native_layer_norm(split, split.shape[-1:], None, None,
                                                     LAYER_NORM_EPS)
        out = normed.view(rows, width)
        if bias is None:
            out.mul_(gain)
        else:
            torch.addcmul(bias, out, gain, out=out)  # b + gain ⊙ n, in place
        ctx.blocks, ctx.has_bias = blocks, bias is not None
        ctx.save_for_backward(pre, mean, rstd, gain)
        return normed

    @staticmethod
    @first_order("gate layer norm (bptt kernel)", BPTT_FIX)
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        pre, mean, rstd, gain = ctx.saved_tensors
        needs_pre, needs_gain, needs_bias, _ = ctx.needs_input_grad
        blocks = ctx.blocks
        rows, width = pre.shape
        grad = grad.reshape(rows, width)
        d_pre = torch.empty_like(pre) if needs_pre else None  # (R, G*H)
        # summed in float32 at least: a bfloat16 running sum over the chunks would round each
        d_gain = pre.new_zeros(width, dtype=torch.promote_types(pre.dtype, torch.float32))
        step = max(1, dispatch.GATE_NORM_CHUNK_ELEMENTS // width)
        for start in range(0, rows if needs_pre or needs_gain else 0, step):
            chunk = slice(start, min(start + step, rows))
            g, raw = grad[chunk], pre[chunk]  # (r, G*H) each
            stats = mean[chunk], rstd[chunk]  # (r, G, 1) each
            if needs_gain:  # d gain = Σ_rows d out ⊙ n
                d_gain.add_(block_normed(raw, stats, blocks).mul_(g).sum(0))
            if needs_pre:  # d n = d out ⊙ gain
                d_pre[chunk] = block_norm_backward(g * gain, raw, stats, blocks)
        d_bias = grad.sum(0) if ctx.has_bias and needs_bias else None
        return d_pre, d_gain.to(gain.dtype) if needs_gain else None, d_bias, None


def gate_norm(pre: Tensor, gain: Tensor, num_gates: int, bias: Tensor | None = None) -> Tensor:
    """``bias + gain ⊙ LN(pre)`` per gate block: ``(..., G*H) -> (..., G*H)``; the same values
    and gradients as ``functional.gate_layer_norm``."""
    flat = pre.reshape(-1, pre.shape[-1])  # (R, G*H)
    return _GateNorm.apply(flat, gain, bias, num_gates).view(pre.shape)

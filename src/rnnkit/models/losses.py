"""Cross-entropy fused with the linear layer in front of it, for large output vocabularies.

``F.cross_entropy(F.linear(h, W, b), y)`` keeps the ``(N, V)`` logits, writes their
log-softmax as a second ``(N, V)`` tensor, and its backward writes two more (the one-hot
gradient of the loss, then the log-softmax's gradient), computing ``exp`` over all of them
twice. For a 10,000-word vocabulary each is 16 MB per 400 tokens. Here the logits buffer is the
only one: the forward turns it into ``e = exp(logits - max)`` in place, and the backward turns
``e`` into the gradient ``softmax - onehot`` in place: faster for word vocabularies, no
different for characters (``benchmarks/bench_loss.py``; figures in RESULTS, "Training
throughput against torch.nn").

Shapes use the package's letters (see :mod:`rnnkit`): ``N`` rows (tokens), ``H`` hidden
features, ``V`` classes (vocabulary).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.kernels.first_order import first_order

ROW_ALIGNMENT = 16
"""The logits buffer's rows start every multiple of this many elements (64 bytes in float32):
the product that fills it ran ~1.5x slower at one thread with PTB's 10,002-word rows
(40,008 bytes) than into rows padded to 10,016 (RESULTS, "Whole run against
word_language_model")."""


def _aligned_buffer(rows: int, columns: int, like: Tensor) -> Tensor:
    """An uninitialised ``(rows, columns)`` view whose row stride is ``columns`` rounded up to
    :data:`ROW_ALIGNMENT`."""
    stride = -(-columns // ROW_ALIGNMENT) * ROW_ALIGNMENT
    return like.new_empty(rows, stride)[:, :columns]


class _LinearCrossEntropy(torch.autograd.Function):
    """``(hidden (N, H), weight (V, H), bias (V,) | None, targets (N,), ignore_index) -> loss``.

    Forward, per row ``n`` with ``z = W h_n + b`` and ``m = max z``:
    ``loss_n = log Σ_v exp(z_v - m) + m - z_{y_n}``; the mean is over rows whose target is not
    ``ignore_index``. Backward: ``d z = (softmax(z) - onehot(y_n)) · d_loss / count`` per
    counted row, ``0`` for ignored ones; then ``d h = d z · W``, ``d W = d zᵀ h``,
    ``d b = Σ_n d z``.
    """

    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor,
                ignore_index: int) -> Tensor:
        counted = targets != ignore_index  # (N,)
        safe_targets = torch.where(counted, targets, 0).unsqueeze(1)  # (N, 1)
        logits = _aligned_buffer(hidden.shape[0], weight.shape[0], hidden)  # (N, V)
        if bias is None:
            torch.mm(hidden, weight.t(), out=logits)
        else:
            torch.addmm(bias, hidden, weight.t(), out=logits)
        picked = logits.gather(1, safe_targets).squeeze(1)  # z_{y_n}: (N,)
        peak = logits.amax(1, keepdim=True)  # m: (N, 1)
        exps = logits.sub_(peak).exp_()  # e = exp(z - m), in the logits' buffer
        sums = exps.sum(1)  # (N,)
        count = counted.sum()
        per_row = torch.where(counted, sums.log() + peak.squeeze(1) - picked, 0.0)  # (N,)
        ctx.save_for_backward(exps, sums, hidden, weight, safe_targets, counted, count)
        ctx.has_bias, ctx.consumed = bias is not None, False
        return per_row.sum() / count

    @staticmethod
    @first_order("linear_cross_entropy", "compute F.cross_entropy on the logits for "
                 "higher-order gradients")
    def backward(ctx, d_loss: Tensor):
        if ctx.consumed:
            raise RuntimeError(
                "linear_cross_entropy: backward ran twice through the same graph; its first "
                "run overwrites the saved softmax. Compute the loss again, or use "
                "F.cross_entropy on the logits for retain_graph=True")
        ctx.consumed = True
        exps, sums, hidden, weight, safe_targets, counted, count = ctx.saved_tensors
        needs = ctx.needs_input_grad
        row_scale = torch.where(counted, d_loss / count, 0.0)  # (N,)
        d_logits = exps.mul_((row_scale / sums).unsqueeze(1))  # softmax · scale: (N, V)
        picked = d_logits.gather(1, safe_targets)  # one entry per row: (N, 1)
        d_logits.scatter_(1, safe_targets, picked - row_scale.unsqueeze(1))  # - onehot · scale
        d_hidden = d_logits.mm(weight) if needs[0] else None  # (N, H)
        d_weight = d_logits.t().mm(hidden) if needs[1] else None  # (V, H)
        d_bias = d_logits.sum(0) if ctx.has_bias and needs[2] else None  # (V,)
        return d_hidden, d_weight, d_bias, None, None


def linear_cross_entropy(hidden: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor,
                         ignore_index: int = -100) -> Tensor:
    """``F.cross_entropy(F.linear(hidden, weight, bias), targets, ignore_index=ignore_index)``
    without keeping the logits: ``hidden (N, H)``, ``weight (V, H)``, ``bias (V,)`` or
    ``None``, integer ``targets (N,)`` -> the mean loss over rows whose target is not
    ``ignore_index`` (NaN when there are none, as torch's).

    Differentiable once: the backward reuses the forward's buffer, so a second backward
    through the same graph (``retain_graph=True``) raises an error. Under ``torch.autocast`` it
    runs the plain ``F.cross_entropy(F.linear(…))``, which autocast computes in float32.
    """
    if hidden.dim() != 2 or targets.shape != hidden.shape[:1]:
        raise ValueError("linear_cross_entropy: expected hidden (N, K) and targets (N,), got "
                         f"{tuple(hidden.shape)} and {tuple(targets.shape)}")
    if targets.dtype.is_floating_point or targets.dtype.is_complex or targets.dtype == torch.bool:
        raise TypeError(f"linear_cross_entropy: targets must be class indices, got {targets.dtype}")
    targets = targets.long()
    if torch.is_autocast_enabled(hidden.device.type):
        return F.cross_entropy(F.linear(hidden, weight, bias), targets, ignore_index=ignore_index)
    return _LinearCrossEntropy.apply(hidden, weight, bias, targets, ignore_index)

"""Cross-entropy fused with the linear layer in front of it, for large output vocabularies.

``F.cross_entropy(F.linear(h, W, b), y)`` keeps the ``(N, V)`` logits, writes their
log-softmax as a second ``(N, V)`` tensor, and its backward writes two more (the one-hot
gradient of the loss, then the log-softmax's gradient), computing ``exp`` over all of them
twice. Here the logits buffer is the only one, and it is read or written in full only by the
three products and one softmax: the forward turns the logits into ``softmax(z)`` in place, the
backward subtracts the one-hot at one entry per row and folds each row's scale into the
products' small operands. Faster for word vocabularies, no different for characters
(``benchmarks/bench_loss.py``, ``benchmarks/bench_decoder_loss.py``; figures in RESULTS).

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
    """An uninitialised contiguous ``(rows, stride)`` buffer, ``stride`` being ``columns``
    rounded up to :data:`ROW_ALIGNMENT`; the logits are its first ``columns`` columns."""
    stride = -(-columns // ROW_ALIGNMENT) * ROW_ALIGNMENT
    return like.new_empty(rows, stride)


class _LinearCrossEntropy(torch.autograd.Function):
    """``(hidden (N, H), weight (V, H), bias (V,) | None, targets (N,), ignore_index) -> loss``.

    Forward, per row ``n`` with ``z = W h_n + b``: ``p = softmax(z)`` in the logits' buffer
    (its padding columns set to ``-inf`` take no probability) and ``loss_n = -log p_{y_n}``;
    a row whose ``p_{y_n}`` is below the dtype's smallest normal number (a loss over ~87
    nats in float32) has its logits recomputed for ``loss_n = logsumexp(z) - z_{y_n}``. The
    mean is over rows whose target is not ``ignore_index``. Backward, with ``c_n = d_loss /
    count`` for counted rows and ``0`` for ignored ones: ``d z = c_n (p - onehot(y_n))``, so
    with ``D = p - onehot(y)`` (the one-hot subtracted in place) ``d h = c ⊙ (D W)``,
    ``d W = Dᵀ (c ⊙ h)``, ``d b = Dᵀ c``.
    """

    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor,
                ignore_index: int) -> Tensor:
        classes = weight.shape[0]
        counted = targets != ignore_index  # (N,)
        safe_targets = torch.where(counted, targets, 0).unsqueeze(1)  # (N, 1)
        buffer = _aligned_buffer(hidden.shape[0], classes, hidden)  # (N, V rounded up)
        logits = buffer[:, :classes]  # z: (N, V)
        if bias is None:
            torch.mm(hidden, weight.t(), out=logits)
        else:
            torch.addmm(bias, hidden, weight.t(), out=logits)
        buffer[:, classes:] = float("-inf")
        # p = softmax(z) in place: the row-wise kernel reads a row's max and sum before it
        # writes the row
        torch.softmax(buffer, 1, out=buffer)
        probs = buffer[:, :classes]  # p: (N, V)
        picked = probs.gather(1, safe_targets).squeeze(1)  # p_{y_n}: (N,)
        per_row = torch.where(counted, -picked.log(), 0.0)  # (N,)
        underflow = counted & (picked < torch.finfo(picked.dtype).tiny)
        if underflow.any():  # on a GPU this waits for the device, as the trainer's .item() does
            rows = underflow.nonzero().squeeze(1)  # rows whose p_{y_n} underflowed: (R,)
            again = F.linear(hidden[rows], weight, bias)  # z of those rows: (R, V)
            per_row[rows] = again.logsumexp(1) - again.gather(1, safe_targets[rows]).squeeze(1)
        count = counted.sum()
        ctx.save_for_backward(probs, hidden, weight, safe_targets, counted, count)
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
        probs, hidden, weight, safe_targets, counted, count = ctx.saved_tensors
        needs = ctx.needs_input_grad
        row_scale = torch.where(counted, d_loss / count, 0.0)  # c: (N,)
        picked = probs.gather(1, safe_targets)  # (N, 1)
        d_rows = probs.scatter_(1, safe_targets, picked - 1)  # D = p - onehot: (N, V)
        scale = row_scale.unsqueeze(1)  # (N, 1)
        d_hidden = d_rows.mm(weight).mul_(scale) if needs[0] else None  # (N, H)
        d_weight = d_rows.t().mm(hidden * scale) if needs[1] else None  # (V, H)
        d_bias = d_rows.t().mv(row_scale) if ctx.has_bias and needs[2] else None  # (V,)
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
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and tensor.dtype != hidden.dtype:
            raise TypeError(f"linear_cross_entropy: {name} is {tensor.dtype} and hidden "
                            f"{hidden.dtype}; give both the same dtype")
    return _LinearCrossEntropy.apply(hidden, weight, bias, targets, ignore_index)

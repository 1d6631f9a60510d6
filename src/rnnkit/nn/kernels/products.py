"""The bptt kernel's repeated products ``a · wᵀ (+ addend)``: one weight, many small ``a``.

Every step of a recurrence multiplies a ``(B, K)`` state by the same ``(N, K)`` weight
(``W_hh h`` forward, ``dpre · W_hh`` backward). torch's CPU ``mm`` (MKL sgemm) reads the weight
in its plain layout on every call; oneDNN can reorder ("pack") it once into its blocked layout
and reuse that for all T steps. The input projection ``x · W_ihᵀ`` over all ``T·B`` rows at
once (and its ``d x``) is one product per weight, so the packing counts against it; it still
gains once the rows are many. ``d W = d_outᵀ · x`` (a long inner dimension) is faster as a
plain ``mm`` at every size measured, so it stays one.

So a product is packed only where it wins, on CPU, float32, with oneDNN available: the rules
``dispatch.packs`` (a weight used every step) and ``dispatch.packs_once`` (a single product).
Everything else stays a plain ``addmm`` (and on CUDA, cuBLAS). ``python
benchmarks/bench_products.py`` measures both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.kernels.dispatch import packs, packs_once
from rnnkit.nn.kernels.first_order import BPTT_FIX, first_order


class RepeatedProduct:
    """``a · wᵀ (+ addend)`` for ``a (rows, K)`` and a fixed ``weight (N, K)``.

    Built once before a time loop; each call writes ``(rows, N)`` into ``out`` when given.
    The weight is packed at the first call (a product never called costs nothing) and must not
    change while the product is in use.
    """

    def __init__(self, weight: Tensor, rows: int, once: bool = False) -> None:
        """``once``: the product runs once (the packing is not shared by many products)."""
        self.weight, self.rows = weight, rows
        self.weight_t = weight.t()  # (K, N), for addmm
        self.packs = (packs_once if once else packs)(weight, rows)
        self.packed: Tensor | None = None

    def _packed(self) -> Tensor:
        if self.packed is None:
            self.packed = torch.ops.mkldnn._reorder_linear_weight(self.weight.contiguous(),
                                                                  self.rows)
        return self.packed

    def __call__(self, a: Tensor, addend: Tensor | None = None,
                 out: Tensor | None = None) -> Tensor:
        """``a (rows, K) -> (rows, N)``; ``addend`` is ``(rows, N)`` or a bias ``(N,)``."""
        if not self.packs:
            if addend is None:
                return torch.mm(a, self.weight_t, out=out)
            return torch.addmm(addend, a, self.weight_t, out=out)
        if addend is None or addend.dim() == 1:
            product = torch.ops.mkldnn._linear_pointwise(a.contiguous(), self._packed(), addend,
                                                         "none", [], "")
        else:
            product = torch.ops.mkldnn._linear_pointwise.binary(a.contiguous(), addend.contiguous(),
                                                                self._packed(), None, "add")
        return product if out is None else out.copy_(product)


class _PackedLinear(torch.autograd.Function):
    """``x (R, K) · wᵀ + b -> (R, N)``: packed products for the output and ``d x``, ``mm`` for
    ``d w``."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        return RepeatedProduct(weight, x.shape[0], once=True)(x, bias)

    @staticmethod
    @first_order("packed product (bptt kernel)", BPTT_FIX)
    def backward(ctx, d_out: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        d_x = None
        if needs[0]:
            d_x = RepeatedProduct(weight.t(), d_out.shape[0], once=True)(d_out)  # d_out · w
        d_weight = d_out.t().mm(x) if needs[1] else None  # (N, K)
        d_bias = d_out.sum(0) if needs[2] else None  # (N,)
        return d_x, d_weight, d_bias


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x · weightᵀ + bias`` for ``x (..., K)``, ``weight (N, K)``, ``bias (N,)`` or ``None``:
    ``(..., N)``, differentiable (once); packed where :func:`packs_once` says it wins."""
    rows = x.numel() // x.shape[-1]
    if not packs_once(weight, rows):
        return F.linear(x, weight, bias)
    flat = x.reshape(rows, x.shape[-1])  # (R, K)
    return _PackedLinear.apply(flat, weight, bias).view(*x.shape[:-1], weight.shape[0])

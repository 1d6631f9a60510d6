"""The bptt kernel's repeated products ``a · wᵀ (+ addend)``: one weight, many small ``a``.

Every step of a recurrence multiplies a ``(B, K)`` state by the same ``(N, K)`` weight
(``W_hh h`` forward, ``dpre · W_hh`` backward). torch's CPU ``mm`` (MKL sgemm) reads the weight
in its plain layout on every call; oneDNN can reorder ("pack") it once into its blocked layout
and reuse that for all T steps. Measured (``python benchmarks/bench_products.py`` reproduces
both tables) with one thread on the 2-core AMD EPYC, torch 2.13, float32, 2026-11-23 (µs per
product, plain ``addmm`` → packed oneDNN product with the addend
fused; the one-off packing not included, it costs about one product):

======  ===========  ===========  =============
rows B  128 → 512    512 → 512    512 → 2048
======  ===========  ===========  =============
1       11 → 33      35 → 52      131 → 111
4       –            75 → 66      247 → 129
8       –            79 → 63      395 → 210
16      –            117 → 101    640 → 349
32      51 → 59      208 → 175    790 → 630
128     178 → 180    683 → 614    3136 → 2445
======  ===========  ===========  =============

The input projection ``x · W_ihᵀ`` over all ``T·B`` rows at once (and its ``d x``) is one
product per weight, so the packing counts against it; it still gains once the rows are many
(ms, ``mm`` → packed including the packing):

=========  ===========  ===========  ============
rows T·B   128 → 512    512 → 128    512 → 2048
=========  ===========  ===========  ============
128        –            –            3.0 → 3.7
1,024      1.7 → 2.0    1.6 → 1.6    –
1,600      –            –            37 → 32
4,096      7.7 → 6.3    7.0 → 5.5    –
6,400      10.8 → 9.2   11.9 → 8.9   173 → 152
25,600     77 → 61      57 → 34      –
=========  ===========  ===========  ============

while ``d W = d_outᵀ · x`` (a long inner dimension) is faster as a plain ``mm`` at every size
measured, so it stays one.

So a product is packed only where it wins, on CPU, float32, with oneDNN available:
:func:`packs` for a weight used every step (at least :data:`MIN_PACKED_ROWS` rows against at
least :data:`MIN_PACKED_WEIGHT` elements), :func:`packs_once` for a single product (at least
:data:`MANY_ROWS` rows, or :data:`SOME_ROWS` against a large weight). Everything else stays a
plain ``addmm`` (and on CUDA, cuBLAS).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.kernels.first_order import BPTT_FIX, first_order

MIN_PACKED_ROWS = 4
MIN_PACKED_WEIGHT = 512 * 512
SOME_ROWS = 1024
MANY_ROWS = 4096


def _packing_available() -> bool:
    ops = torch.ops.mkldnn
    return (torch.backends.mkldnn.is_available() and hasattr(ops, "_reorder_linear_weight")
            and hasattr(ops, "_linear_pointwise"))


PACKING_AVAILABLE = _packing_available()


def _packable(dtype: torch.dtype, device_type: str) -> bool:
    """On CPU, float32, and oneDNN neither missing nor switched off
    (``torch.backends.mkldnn.flags(enabled=False)``)."""
    return (PACKING_AVAILABLE and torch.backends.mkldnn.enabled
            and device_type == "cpu" and dtype == torch.float32)


def packs_size(elements: int, rows: int, dtype: torch.dtype, device_type: str) -> bool:
    """Whether a weight of ``elements`` entries, multiplied by ``rows`` rows every step, is
    packed (:func:`packs` for a weight not built yet)."""
    return (_packable(dtype, device_type) and rows >= MIN_PACKED_ROWS
            and elements >= MIN_PACKED_WEIGHT)


def packs(weight: Tensor, rows: int) -> bool:
    """Whether :class:`RepeatedProduct` packs ``weight (N, K)`` for ``rows`` rows per product."""
    return packs_size(weight.numel(), rows, weight.dtype, weight.device.type)


def packs_once(weight: Tensor, rows: int) -> bool:
    """Whether one product of ``rows`` rows with ``weight (N, K)`` gains from packing it."""
    return _packable(weight.dtype, weight.device.type) and (
        rows >= MANY_ROWS or (rows >= SOME_ROWS and weight.numel() >= MIN_PACKED_WEIGHT))


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

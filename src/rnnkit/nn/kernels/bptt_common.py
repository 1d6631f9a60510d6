"""What the bptt kernel's cells share: the pass's plan, buffers of steps, pointwise helpers
and the backward through the recurrent layer norm. ``bptt_lstm``, ``bptt_gru`` and
``bptt_rnn`` hold each cell's forward and backward; ``bptt`` runs them.

Shapes: ``T`` steps, ``B`` batch, ``H`` hidden, ``P`` = H_out, ``G`` gates (see ``functional``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.activations import Activation, builtin_name
from rnnkit.nn.config import CellConfig
from rnnkit.nn.functional import LAYER_NORM_EPS
from rnnkit.nn.kernels import dispatch
from rnnkit.nn.kernels.first_order import BPTT_FIX, first_order
from rnnkit.nn.kernels.gate_norm import block_norm_backward, block_normed


@dataclass
class Plan:
    """The non-differentiable inputs of one direction's pass (masks are constants)."""

    cell: CellConfig
    recurrent_mask: Tensor | None  # (B, P), scaled by 1 / (1 - p)
    keep_h: Tensor | float | None  # (T, B, P or 1), a probability, or None: h_t = h̃_t
    keep_c: Tensor | float | None  # (T, B, H or 1), ...                      c_t = c̃_t
    running: Tensor | None  # (T, B, 1): 1.0 while t < length
    save: bool  # keep every step for the backward (False in inference)
    fused: bool = False  # the compiled loops run this pass (``fused_loop``)
    lengths: Tensor | None = None  # (B,), for the compiled loops


_MINUS_ONE = torch.tensor(-1.0)


def tanh_into(src: Tensor, out: Tensor) -> Tensor:
    """``out = tanh(src)``, as ``2σ(2 src) - 1`` where ``dispatch.tanh_by_sigmoid`` says
    (within 3e-7 of ``torch.tanh``, absolute)."""
    if not dispatch.tanh_by_sigmoid(out):
        return torch.tanh(src, out=out)
    torch.sigmoid(torch.mul(src, 2.0, out=out), out=out)
    return torch.add(_MINUS_ONE, out, alpha=2.0, out=out)


def activation_into(activation: Activation) -> Callable[[Tensor, Tensor], object]:
    """``f(src, out)`` writing ``activation(src)`` into ``out`` (``out`` may be ``src``)."""
    name = builtin_name(activation)  # a user's Activation goes the generic way
    if name == "sigmoid":
        return lambda src, out: torch.sigmoid(src, out=out)
    if name == "tanh":
        return tanh_into
    if name == "relu":
        return lambda src, out: torch.clamp(src, min=0.0, out=out)
    if name == "hard_sigmoid":  # same values as relu6(x + 3) / 6, one kernel
        return lambda src, out: F.hardsigmoid(src if src is out else out.copy_(src),
                                              inplace=True)
    if name == "linear":
        return lambda src, out: out if src is out else out.copy_(src)
    return lambda src, out: out.copy_(activation.fn(src))


_aten = torch.ops.aten
BACKWARD_OPS = {  # name: (torch's backward op, its extra arguments, slope)
    "sigmoid": (_aten.sigmoid_backward, (), 1.0),  # factor ⊙ y(1-y)
    "tanh": (_aten.tanh_backward, (), 1.0),  # factor ⊙ (1-y²)
    "relu": (_aten.threshold_backward, (0.0,), 1.0),  # factor where y > 0
    "hard_sigmoid": (_aten.hardtanh_backward, (0.0, 1.0), 1.0 / 6.0),  # slope where 0 < y < 1
    "hard_sigmoid_v2": (_aten.hardtanh_backward, (0.0, 1.0), 0.2),
}
"""The built-in activations whose ``factor ⊙ f'(x)`` one of torch's backward ops computes from
``y = f(x)``, times a constant slope."""


def times_grad(activation: Activation, factor: Tensor, output: Tensor,
                out: Tensor | None = None) -> Tensor:
    """``factor ⊙ f'(x)`` from ``y = f(x)``, with torch's own backward op where one fits
    (:data:`BACKWARD_OPS`), so no temporaries the size of ``factor``; else
    ``grad_from_output``."""
    name = builtin_name(activation)
    if name not in BACKWARD_OPS:
        return torch.mul(factor, activation.grad_from_output(output), out=out)
    op, arguments, slope = BACKWARD_OPS[name]
    if out is None:
        out = op(factor, output, *arguments)
    else:
        op.grad_input(factor, output, *arguments, grad_input=out)
    return out if slope == 1.0 else out.mul_(slope)


def step_buffer(like: Tensor, steps: int, shape: tuple[int, ...], save: bool) -> Tensor:
    """A ``(T, *shape)`` buffer; without ``save`` every step views one reused scratch step."""
    if save:
        return like.new_empty(steps, *shape)
    return like.new_empty(1, *shape).expand(steps, *shape)


def new_states(keep: Tensor | float | None, all_states: Tensor, save: bool) -> Tensor:
    """Where each step writes its new state ``h̃_t`` (or ``c̃_t``): ``all_states[1:]`` itself
    when nothing keeps the previous state (``keep`` is ``None``), else a buffer of its own."""
    if keep is None:
        return all_states[1:]
    return step_buffer(all_states, all_states.shape[0] - 1, tuple(all_states.shape[1:]), save)


def gate_buffer(x_proj: Tensor, save: bool) -> Tensor:
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
    return step_buffer(x_proj, x_proj.shape[0], tuple(x_proj.shape[1:]), save)


class _Absent:
    """The per-step views of a buffer that the configuration does not use: ``None`` each."""

    def __getitem__(self, step: int) -> None:
        return None


def unbind_steps(tensor: Tensor | None) -> tuple[Tensor, ...] | _Absent:
    """Per-step views ``(B, ·)`` of a ``(T, B, ·)`` buffer, made once before the loop."""
    return tensor.unbind(0) if tensor is not None else _Absent()


def at_step(keep: Tensor | float | None, step: int):
    return keep[step] if isinstance(keep, Tensor) else keep


def complement(keep: Tensor | float | None):
    return None if keep is None else 1.0 - keep


def ln_forward(raw: Tensor, blocks: int, stats: list | None) -> Tensor:
    """Normalise each of ``blocks`` H-blocks of ``raw (B, k*H)`` (no gain); appends the
    per-block ``(mean, 1/σ)``, each ``(B, k, 1)``, to ``stats`` for the backward."""
    batch = raw.shape[0]
    split = raw.view(batch, blocks, -1)  # (B, k, H)
    normed, mean, rstd = torch.native_layer_norm(split, split.shape[-1:], None, None,
                                                 LAYER_NORM_EPS)
    if stats is not None:
        stats.append((mean, rstd))
    return normed.view(batch, -1)


class RecurrentNormGrads:
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
            self.d_w_hh.addmm_(as_rows(self.d_rec[:count]).t(),
                               as_rows(self.h_in[start:start + count]))
        return d_rec


def normed_steps(raw: Tensor, stats: list[tuple[Tensor, Tensor]], blocks: int) -> Tensor:
    """The normalised values of every step at once: ``(T, B, k*H)``."""
    mean = torch.stack([m for m, _ in stats]).view(-1, blocks, 1)  # (T*B, k, 1)
    rstd = torch.stack([r for _, r in stats]).view(-1, blocks, 1)
    return block_normed(as_rows(raw), (mean, rstd), blocks).view(raw.shape)


def as_rows(tensor: Tensor) -> Tensor:
    """``(T, B, F) -> (T*B, F)``: every step as rows of one matrix."""
    return tensor.reshape(-1, tensor.shape[-1])


def sum_steps(tensor: Tensor) -> Tensor:
    """Sum over steps and batch: ``(T, B, F) -> (F,)``."""
    return tensor.sum((0, 1))


def carry_h(plan: Plan, t: int, dh: Tensor, d_in: Tensor, d_trace: Tensor) -> Tensor:
    """``dh_{t-1} = d_trace_{t-1} + keep_t ⊙ dh_t + mask ⊙ d_in`` (``d_in``: gradient of
    ``h_in = h_{t-1} ⊙ mask``; terms that bypass the mask are added by the caller)."""
    if plan.recurrent_mask is not None:
        d_in = d_in * plan.recurrent_mask
    if plan.keep_h is not None:
        d_in = d_in + dh * at_step(plan.keep_h, t)
    return d_in + d_trace[t]


def prev_inputs(plan: Plan, h_all: Tensor) -> Tensor:
    """``h_{t-1} ⊙ mask`` for every step: ``(T, B, P)``."""
    h_prev = h_all[:-1]
    return h_prev if plan.recurrent_mask is None else h_prev * plan.recurrent_mask


def gate_columns(cell: CellConfig, first: str, last: str | None = None) -> slice:
    """The columns of gates ``first`` … ``last`` in a ``(…, G*H)`` tensor, from the one gate
    order ``config.GATES`` (LSTM i,f,g,o; GRU r,z,n)."""
    order, hidden = cell.gates, cell.hidden_size
    return slice(order.index(first) * hidden, (order.index(last or first) + 1) * hidden)


def saved_as(ctx, weights_type: type, steps_type: type) -> tuple:
    """``ctx.saved_tensors`` of a cell's Function, saved as ``(*weights, *steps)``, as the two
    named tuples again."""
    saved, count = ctx.saved_tensors, len(weights_type._fields)
    return weights_type._make(saved[:count]), steps_type._make(saved[count:])


def weights_needing_grad(ctx, weights_type: type) -> tuple[bool, ...]:
    """Which of the weights (a cell's Function's last inputs) need a gradient, by name."""
    return weights_type._make(ctx.needs_input_grad[-len(weights_type._fields):])


def one_state_function(kind: str, weights_type: type, forward_pass: Callable,
                       backward_pass: Callable, doc: str) -> type[torch.autograd.Function]:
    """The ``torch.autograd.Function`` ``{kind}Function`` of a cell with one state (GRU, RNN):
    ``(plan, x_proj, h_0, *weights) -> h_all``. ``forward_pass(plan, x_proj, h_0, weights)``
    returns ``h_all``, the steps to keep (a named tuple, saved after the weights) and the
    layer norm's statistics; ``backward_pass(ctx, d_h_all)`` the inputs' gradients."""

    def forward(ctx, plan, x_proj, h_0, *weights):
        weights = weights_type._make(weights)
        h_all, kept, ctx.stats = forward_pass(plan, x_proj, h_0, weights)
        ctx.plan = plan
        ctx.save_for_backward(*weights, *kept)
        return h_all

    @first_order(f"{kind} (bptt kernel)", BPTT_FIX)
    def backward(ctx, d_h_all):
        return backward_pass(ctx, d_h_all)

    return type(f"{kind}Function", (torch.autograd.Function,), {
        "__doc__": doc, "__module__": forward_pass.__module__,
        "forward": staticmethod(forward), "backward": staticmethod(backward)})

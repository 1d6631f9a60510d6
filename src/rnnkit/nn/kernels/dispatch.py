"""Every rule that chooses how a recurrent layer runs, in one table.

Each rule is a named threshold (or table) and the predicate that reads it. Its docstring says
what it decides and why, and names the subsection of ``benchmarks/RESULTS.md``, under
"Dispatch rules: the measurements behind each threshold", that holds the runs behind it.

======================================  ==================================================
rule                                    decides
======================================  ==================================================
:data:`AUTO_TABLE`                      native or bptt for torch.nn's configurations
:func:`packed_inference`                bptt for GRU/RNN inference whose products pack
:data:`FUSED_INFERENCE_MAX_BATCH`       bptt for GRU/RNN inference at small batch
:data:`COMPILED_MAX_BATCH`              the GRU's and RNN's compiled time loops
:data:`LSTM_COMPILED_MAX_WEIGHT`        the LSTM's compiled time loop
:data:`LSTM_HAND_PRODUCT_MAX_BATCH`     the LSTM loop's own ``W_hh h`` product or torch's
:data:`MIN_PACKED_ROWS`, …              packed oneDNN products or plain ``mm``
:data:`TANH_BY_SIGMOID_MIN`             ``tanh`` as ``2σ(2x) - 1``
:data:`NORM_CHUNK_ROWS`, …              ``W_hh``'s gradient through layer norm in chunks
:data:`GATE_NORM_CHUNK_ELEMENTS`        the chunk of the input layer norm's backward
======================================  ==================================================

``impl="auto"`` (:func:`choose_impl`) picks, among the kernels that serve the call, by the
first three rules; ``return_gates=True`` always runs the reference loop. The other rules choose
how the bptt kernel runs inside.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.nn.activations import builtin_name
from rnnkit.nn.config import CellConfig, LayerConfig
from rnnkit.nn.kernels import fused_loop

# ---------------------------------------------------------------------------------------------
# impl="auto": which kernel runs the layer

AUTO_TABLE: dict[tuple[str, str, bool], str] = {
    ("cpu", "lstm", True): "native",
    ("cpu", "lstm", False): "native",
    ("cpu", "gru", True): "bptt",
    ("cpu", "gru", False): "native",
    ("cpu", "rnn", True): "bptt",
    ("cpu", "rnn", False): "native",
    ("cuda", "lstm", True): "native",
    ("cuda", "lstm", False): "native",
    ("cuda", "gru", True): "native",
    ("cuda", "gru", False): "native",
    ("cuda", "rnn", True): "native",
    ("cuda", "rnn", False): "native",
}
"""The kernel ``impl="auto"`` runs for a torch-standard configuration, per (device type, cell
kind, whether the call builds an autograd graph); a configuration native cannot serve gets
"bptt". On CPU only torch's LSTM is a fused (oneDNN) kernel, which bptt does not beat; torch's
GRU and RNN loop over steps recording autograd nodes, which bptt beats in training. The CUDA
rows (cuDNN everywhere) are not measured: re-measure with ``--device cuda`` before changing
them. See RESULTS, "AUTO_TABLE"."""

FUSED_INFERENCE_MAX_BATCH = 4
"""Largest batch at which GRU/RNN inference on CPU runs bptt's compiled loops rather than
torch's loop, with or without variable lengths: above it the compiled product, no GEMM,
loses to torch's. See RESULTS, "FUSED_INFERENCE_MAX_BATCH"."""


def native_refusal(config: LayerConfig, return_gates: bool) -> str | None:
    """Why the native kernel cannot serve this call, or ``None`` when it can."""
    cell = config.cell
    if return_gates:
        return "return_gates=True needs the per-step gates, which torch's fused op does not expose"
    if not cell.is_torch_standard:
        return (
            "the configuration is not torch.nn's (non-default activations, layer_norm, "
            "input_dropout, recurrent_dropout, zoneout, peephole or reset_after=False)"
        )
    return None


def bptt_refusal(config: LayerConfig, return_gates: bool) -> str | None:
    """Why the bptt kernel cannot serve this call, or ``None`` when it can."""
    if return_gates:
        return "return_gates=True needs the per-step gate trace, which only the reference keeps"
    return None


def packed_inference(config: LayerConfig, device_type: str, builds_graph: bool,
                     batch_size: int, dtype: torch.dtype, has_lengths: bool) -> bool:
    """GRU or RNN inference on CPU, all sequences of one length, where bptt's per-step
    ``W_hh h`` products are packed (:func:`packs_size`): there bptt beats torch's loop. With
    variable lengths torch's packed loop is kept, bptt does not beat it. See RESULTS,
    "packed_inference"."""
    hidden = config.cell.hidden_size
    return (config.cell.kind in ("gru", "rnn") and not builds_graph and not has_lengths
            and not torch.is_autocast_enabled(device_type)  # oneDNN's product refuses its casts
            and packs_size(hidden * hidden, batch_size, dtype, device_type))


def fused_inference(config: LayerConfig, device_type: str, builds_graph: bool,
                    batch_size: int, dtype: torch.dtype) -> bool:
    """GRU or RNN inference on CPU at a batch the compiled loops beat torch's loop at
    (:data:`FUSED_INFERENCE_MAX_BATCH`), with or without variable lengths."""
    return (config.cell.kind in ("gru", "rnn") and not builds_graph
            and batch_size <= FUSED_INFERENCE_MAX_BATCH
            and not torch.is_autocast_enabled(device_type)
            and compiled_loops_serve(config.cell, device_type, dtype, batch_size, masked=False,
                                     zoneout=False, norm_hh=False))


def choose_impl(config: LayerConfig, impl: str, return_gates: bool,
                device_type: str = "cpu", builds_graph: bool = True, batch_size: int = 1,
                dtype: torch.dtype = torch.float32, has_lengths: bool = False) -> str:
    """The kernel to run: ``"native"``, ``"bptt"`` or ``"reference"``.

    ``builds_graph``: the call records autograd (a training step), as opposed to inference.
    ``batch_size``, ``dtype`` and ``has_lengths`` (lengths that pad something: the
    layer drops lengths that all equal T) describe the input. A
    forced ``impl`` that cannot serve the call raises ``ValueError`` naming the fix.
    """
    refusals = {
        "native": native_refusal(config, return_gates),
        "bptt": bptt_refusal(config, return_gates),
        "reference": None,
    }
    if impl == "auto":
        if refusals["native"] is None:
            if (packed_inference(config, device_type, builds_graph, batch_size, dtype,
                                 has_lengths)
                    or fused_inference(config, device_type, builds_graph, batch_size, dtype)):
                return "bptt"
            return AUTO_TABLE.get((device_type, config.cell.kind, builds_graph), "native")
        return "bptt" if refusals["bptt"] is None else "reference"
    if refusals[impl]:
        raise ValueError(
            f"{config.cell.owner}: impl={impl!r} cannot serve this call: {refusals[impl]}; "
            "pass impl='auto' (or impl='reference')"
        )
    return impl


# ---------------------------------------------------------------------------------------------
# bptt: whether its time loops run compiled (``fused_loop``)

COMPILED_MAX_BATCH = 8
"""Largest batch the RNN's and GRU's compiled loops serve (the LSTM's: any). Their product
reads ``W_hh`` once a step but is no GEMM kernel: from 16 rows torch's batched products catch
up. See RESULTS, "COMPILED_MAX_BATCH"."""

LSTM_COMPILED_MAX_WEIGHT = 512 * 512
"""The LSTM's compiled loop serves a ``W_hh`` of fewer elements (H < 256): from there the
Python loop's products are packed (:func:`packs`) and, with layer norm, ``W_hh``'s gradient
gathered in chunks (:func:`norm_chunk_steps`), which the compiled loop does not do."""

LSTM_HAND_PRODUCT_MAX_BATCH = 2
"""Up to this batch the LSTM's compiled loop multiplies by ``W_hh`` with its own product (as
the RNN's and GRU's do), above it with torch's GEMM. See RESULTS,
"LSTM_HAND_PRODUCT_MAX_BATCH"."""


def compiled_loops_serve(cell: CellConfig, device_type: str, dtype: torch.dtype,
                         batch_size: int, *, masked: bool, zoneout: bool,
                         norm_hh: bool) -> bool:
    """Whether the compiled loops run a direction of ``batch_size`` sequences (variable
    lengths or not). ``masked``: a recurrent-dropout mask on ``h``; ``zoneout``: zoneout in
    training; ``norm_hh``: layer norm on ``W_hh h``. Asking compiles the extension the first
    time a call could use it.

    They serve float32 or float64 on CPU, no zoneout, built-in activations. RNN (tanh or
    relu) and GRU (sigmoid/tanh): no layer norm on ``W_hh h``, no recurrent dropout, at most
    :data:`COMPILED_MAX_BATCH` sequences. LSTM: tanh, a recurrent activation in
    ``fused_loop.GATE_KINDS``, no peephole or projection, ``W_hh`` under
    :data:`LSTM_COMPILED_MAX_WEIGHT` elements."""
    if zoneout or device_type != "cpu" or dtype not in (torch.float32, torch.float64):
        return False
    activation = builtin_name(cell.activation)
    if cell.kind == "lstm":
        fits = (activation == "tanh" and cell.proj_size == 0 and not cell.peephole
                and builtin_name(cell.recurrent_activation) in fused_loop.GATE_KINDS
                and 4 * cell.hidden_size * cell.hidden_size < LSTM_COMPILED_MAX_WEIGHT)
    elif masked or norm_hh or batch_size > COMPILED_MAX_BATCH:
        fits = False
    elif cell.kind == "rnn":
        fits = activation in ("tanh", "relu")
    else:
        fits = activation == "tanh" and builtin_name(cell.recurrent_activation) == "sigmoid"
    return fits and fused_loop.module() is not None


def lstm_hand_product(batch_size: int) -> bool:
    """Whether the LSTM's compiled loop computes ``W_hh h`` itself
    (:data:`LSTM_HAND_PRODUCT_MAX_BATCH`)."""
    return batch_size <= LSTM_HAND_PRODUCT_MAX_BATCH


# ---------------------------------------------------------------------------------------------
# bptt: packed products (``products``)

MIN_PACKED_ROWS = 4
"""A weight used every step is packed for at least this many rows per product ..."""

MIN_PACKED_WEIGHT = 512 * 512
"""... and at least this many elements: below either, the packed oneDNN product is no faster
than ``mm`` (one row: slower). See RESULTS, "Packed products"."""

SOME_ROWS = 1024
"""A single product (the input projection, its ``d x``) is packed from this many rows against a
weight of :data:`MIN_PACKED_WEIGHT` elements ..."""

MANY_ROWS = 4096
"""... or from this many rows against any weight: the packing, paid once, must be won back
within the one product. See RESULTS, "Packed products"."""


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
    """Whether ``products.RepeatedProduct`` packs ``weight (N, K)`` for ``rows`` rows per
    product."""
    return packs_size(weight.numel(), rows, weight.dtype, weight.device.type)


def packs_once(weight: Tensor, rows: int) -> bool:
    """Whether one product of ``rows`` rows with ``weight (N, K)`` gains from packing it."""
    return _packable(weight.dtype, weight.device.type) and (
        rows >= MANY_ROWS or (rows >= SOME_ROWS and weight.numel() >= MIN_PACKED_WEIGHT))


# ---------------------------------------------------------------------------------------------
# bptt: pointwise and layer-norm work in its Python loop

TANH_BY_SIGMOID_MIN = 4096
"""Elements from which ``tanh`` is computed as ``2σ(2x) - 1`` on CPU in float32 (within 3e-7 of
``torch.tanh``): torch's CPU ``tanh`` costs several times its ``sigmoid`` from about this size
on. See RESULTS, "TANH_BY_SIGMOID_MIN"."""


def tanh_by_sigmoid(out: Tensor) -> bool:
    """Whether ``tanh`` into ``out`` goes through ``sigmoid`` (:data:`TANH_BY_SIGMOID_MIN`);
    half precision would round σ near 1/2, so only float32."""
    return (out.device.type == "cpu" and out.dtype == torch.float32
            and out.numel() >= TANH_BY_SIGMOID_MIN)


NORM_CHUNK_ROWS = 1024
"""Rows (steps × batch) of ``d(W_hh h_in)`` gathered before they are added to ``W_hh``'s
gradient in one product ..."""

NORM_CHUNK_MIN_WEIGHT = 1 << 20
"""... when ``W_hh`` has at least this many elements; a smaller gradient stays in cache, and a
product per step costs less than copying each step into the chunk. See RESULTS,
"NORM_CHUNK_ROWS, NORM_CHUNK_MIN_WEIGHT"."""


def norm_chunk_steps(w_hh: Tensor | None, steps: int, batch_size: int) -> int:
    """Steps per product of ``W_hh``'s gradient through the recurrent layer norm: 1 (a product
    per step), or a chunk of about :data:`NORM_CHUNK_ROWS` rows for a large ``W_hh``."""
    if w_hh is not None and w_hh.numel() >= NORM_CHUNK_MIN_WEIGHT:
        return min(steps, max(1, NORM_CHUNK_ROWS // batch_size))
    return 1


GATE_NORM_CHUNK_ELEMENTS = 1 << 18
"""Elements of ``(rows, G*H)`` per chunk of the input layer norm's backward (1 MB in float32,
so a chunk stays in cache; ``gate_norm``). See RESULTS, "GATE_NORM_CHUNK_ELEMENTS"."""

"""Kernels that run a recurrent layer, and the one place that chooses among them.

- ``reference``: a Python loop over ``rnnkit.nn.functional``'s steps, differentiated by
  autograd; serves everything and is the yardstick of the tests.
- ``bptt``: one ``torch.autograd.Function`` per cell kind with a hand-written backward through
  time; serves every option except ``return_gates``.
- ``native``: torch's fused op (oneDNN LSTM on CPU, cuDNN on CUDA); serves torch.nn's exact
  configurations only.

``impl="auto"`` picks, among the kernels that serve the call, the fastest one for the device,
the cell kind and the kind of call (training step or inference) according to
:data:`AUTO_TABLE` (measured, see there), and for GRU/RNN inference on CPU the size
(:func:`packed_inference`, :func:`fused_inference`); ``return_gates=True`` always runs the
reference loop. The bptt kernel runs the GRU's and RNN's time loops compiled at small batch
(``fused_loop``).
"""

from __future__ import annotations

import torch

from rnnkit.nn.config import LayerConfig
from rnnkit.nn.kernels import fused_loop, products

# The kernel ``impl="auto"`` runs for a torch-standard configuration, per (device type, cell
# kind, whether the call builds an autograd graph); a configuration native cannot serve always
# gets "bptt". CPU rows measured with
#   python benchmarks/bench_layers.py --threads 1   (2-core AMD EPYC, torch 2.13, 2026-11-23;
#   the table is benchmarks/results/layers.md): on CPU only torch's LSTM is a fused (oneDNN)
#   kernel, which bptt does not beat; torch's GRU and RNN run a generic per-step loop that
#   records autograd nodes every step, which bptt beats in training at every measured size;
#   without a graph (inference) that loop is cheap, and bptt beats it only where its per-step
#   product is packed (``packed_inference``).
# CUDA rows are NOT measured (no GPU was lent when this was written): there all three torch
# ops are cuDNN kernels, and a per-step Python loop launches ~10 kernels a step; re-measure
# with --device cuda before changing them.
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
    ``W_hh h`` products are packed (``products.packs``: at least 4 rows against an ``H × H``
    block of at least 512²): there bptt beats torch's loop. ``python
    benchmarks/bench_layers.py --repeats 5 --threads 1`` (2026-11-23, run B), bptt / torch.nn
    in inference at B ∈ {32, 128}, T ∈ {50, 200}, H = 512: GRU 0.95, 0.91, 0.78, 0.95; RNN
    0.98, 0.93, 0.91, 0.92; unpacked, at B = 1 or H = 128, 0.95–1.58. Run C, with this rule:
    ``auto`` at those sizes GRU 0.81–0.94, RNN 0.78–0.88 (``native`` 0.96–1.08 and
    0.98–1.03). With variable lengths torch's packed loop is kept: bptt / torch.nn on a packed
    batch at B ∈ {32, 128}, T ∈ {50, 200}, H = 512 was GRU 1.03–1.24, RNN 0.85–1.14 (``python
    benchmarks/bench_lengths.py --cells rnn gru --batch 4 8 32 128 --steps 50 200 --hidden 512
    --threads 1 --rounds 15``, 2026-11-30 16:06, nothing else of mine running; at B = 4 the
    compiled loops, 0.80–0.83, see :data:`FUSED_INFERENCE_MAX_BATCH`)."""
    hidden = config.cell.hidden_size
    return (config.cell.kind in ("gru", "rnn") and not builds_graph and not has_lengths
            and not torch.is_autocast_enabled(device_type)  # oneDNN's product refuses its casts
            and products.packs_size(hidden * hidden, batch_size, dtype, device_type))


FUSED_INFERENCE_MAX_BATCH = 4
"""Largest batch at which GRU/RNN inference runs bptt's compiled loops rather than torch's.
Inference, ratio to torch.nn at T = 50, compiled loops (one thread, 2026-11-30, the other core
busy; B = 1 from ``python benchmarks/bench_layers.py --cells rnn gru --batch 1 --steps 50 200
--hidden 128 512 --modes train inference --repeats 5 --threads 1 --no-keras --no-memory``,
B = 4 and 8 from the ``--batch 4 8 16 32`` run with ``MAX_BATCH = 64`` that
``fused_loop.MAX_BATCH`` cites): B = 1: RNN 0.64 (H=128),
0.73 (H=512); GRU 0.58, 0.75. B = 4: RNN 0.97, 0.89; GRU 0.89, 0.89. B = 8: RNN 1.22, 1.07;
GRU 1.20, 1.06.

With variable lengths (``lengths=`` or a PackedSequence) against torch.nn on a packed batch,
T = 50, lengths drawn in T/2 … T (``python benchmarks/bench_lengths.py --cells rnn gru --batch
1 2 4 8 16 --hidden 128 512 --threads 1``, 2026-11-30 16:05, nothing else of mine running),
bptt with the compiled loops / torch.nn, H = 128 and 512: B = 1: RNN 0.56, 0.64; GRU 0.47,
0.72. B = 4: RNN 0.70, 0.74; GRU 0.69, 0.88. B = 8: RNN 0.87, 0.99; GRU 0.94, 1.09. B = 16
(no compiled loops): RNN 1.28, 1.14; GRU 1.31, 1.25. One bound serves both: the RNN alone
would gain a little from 8 with lengths (0.86–0.99 at B = 8 over four runs, B = 5–7 not
measured)."""


def fused_inference(config: LayerConfig, device_type: str, builds_graph: bool,
                    batch_size: int, dtype: torch.dtype) -> bool:
    """GRU or RNN inference on CPU at a batch the compiled loops beat torch's loop at
    (:data:`FUSED_INFERENCE_MAX_BATCH`), with or without variable lengths."""
    return (config.cell.kind in ("gru", "rnn") and not builds_graph
            and batch_size <= FUSED_INFERENCE_MAX_BATCH
            and not torch.is_autocast_enabled(device_type)
            and fused_loop.serves(config.cell, device_type, dtype, batch_size, masked=False,
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

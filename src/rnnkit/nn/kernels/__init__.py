"""Kernels that run a recurrent layer, and the one place that chooses among them.

- ``reference``: a Python loop over ``rnnkit.nn.functional``'s steps, differentiated by
  autograd; serves everything and is the yardstick of the tests.
- ``bptt``: one ``torch.autograd.Function`` per cell kind with a hand-written backward through
  time; serves every option except ``return_gates``.
- ``native``: torch's fused op (oneDNN LSTM on CPU, cuDNN on CUDA); serves torch.nn's exact
  configurations only.

``impl="auto"`` picks, among the kernels that serve the call, the fastest one for the device,
the cell kind and the kind of call (training step or inference) according to
:data:`AUTO_TABLE` (measured, see there); ``return_gates=True`` always runs the reference loop.
"""

from __future__ import annotations

from rnnkit.nn.config import LayerConfig

# The kernel ``impl="auto"`` runs for a torch-standard configuration, per (device type, cell
# kind, whether the call builds an autograd graph); a configuration native cannot serve always
# gets "bptt". CPU rows measured with
#   python benchmarks/bench_layers.py --threads 1   (2-core AMD EPYC, torch 2.13, 2026-11-23;
#   the table is benchmarks/results/layers.md): on CPU only torch's LSTM is a fused (oneDNN)
#   kernel, which bptt does not beat; torch's GRU and RNN run a generic per-step loop that
#   records autograd nodes every step, which bptt beats in training at every measured size;
#   without a graph (inference) that loop is cheap and bptt does not beat it.
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


def choose_impl(config: LayerConfig, impl: str, return_gates: bool,
                device_type: str = "cpu", builds_graph: bool = True) -> str:
    """The kernel to run: ``"native"``, ``"bptt"`` or ``"reference"``.

    ``builds_graph``: the call records autograd (a training step), as opposed to inference.
    A forced ``impl`` that cannot serve the call raises ``ValueError`` naming the fix.
    """
    refusals = {
        "native": native_refusal(config, return_gates),
        "bptt": bptt_refusal(config, return_gates),
        "reference": None,
    }
    if impl == "auto":
        if refusals["native"] is None:
            return AUTO_TABLE.get((device_type, config.cell.kind, builds_graph), "native")
        return "bptt" if refusals["bptt"] is None else "reference"
    if refusals[impl]:
        raise ValueError(
            f"{config.cell.owner}: impl={impl!r} cannot serve this call: {refusals[impl]}; "
            "pass impl='auto' (or impl='reference')"
        )
    return impl

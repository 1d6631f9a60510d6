"""One layer of a recurrent stack as ONNX's own ``RNN``, ``GRU`` or ``LSTM`` operator.

Both directions run in one operator (``direction="bidirectional"``) with ``sequence_lens``,
which gives what rnnkit's layers give with ``lengths``: outputs past a sequence's length are
zero, ``Y_h``/``Y_c`` hold each sequence's state at its own last token, and the reverse
direction starts at each sequence's own end.

Weights are re-stacked from torch's gate order to ONNX's (rnnkit's equations and ONNX's agree
term by term, see :mod:`rnnkit.nn.functional`):

- LSTM: torch ``i, f, g, o`` → ONNX ``i, o, f, c``; peepholes ``P`` are ``w_ci, w_co, w_cf``
  (ONNX order ``i, o, f``; both add ``P_o ⊙ c'`` with the new cell state to ``o``).
- GRU: torch ``r, z, n`` → ONNX ``z, r, h``; ``linear_before_reset=1`` is rnnkit's
  ``reset_after=True`` (``n = act(W_in x + b_in + r ⊙ (W_hn h + b_hn))``), ``0`` its
  ``reset_after=False`` (``n = act(W_in x + b_in + W_hn (r ⊙ h) + b_hn)``).
- RNN: one block, ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.

ONNX's ``B`` is ``[Wb, Rb]``: rnnkit's ``b_ih`` then ``b_hh``; without bias it is omitted
(zeros).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnnkit.export.activations import cell_activations, operator_attributes
from rnnkit.export.graph import GraphBuilder
from rnnkit.nn.config import GATES, CellConfig
from rnnkit.nn.functional import DirectionWeights

__all__ = ["ONNX_GATES", "LayerOutputs", "add_operator_layer"]

ONNX_GATES = {"rnn": ("h",), "lstm": ("i", "o", "f", "g"), "gru": ("z", "r", "n")}
"""ONNX's gate order per cell kind, in rnnkit's gate names (ONNX calls LSTM's g ``c`` and
GRU's n ``h``)."""

_OPERATORS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_PEEPHOLES = ("w_ci", "w_co", "w_cf")  # ONNX's P order: i, o, f


class LayerOutputs(NamedTuple):
    """One layer's graph values: ``output (T, B, D*H_out)``, ``h_n (D, B, H_out)``,
    ``c_n (D, B, H)`` (an LSTM's, else ``None``)."""

    output: str
    h_n: str
    c_n: str | None


def _onnx_order(matrix: np.ndarray, kind: str) -> np.ndarray:
    """Re-stack the ``G`` gate blocks of ``matrix`` (``(G*H, ...)``) from torch's order to
    ONNX's."""
    blocks = dict(zip(GATES[kind], np.split(matrix, len(GATES[kind]))))
    return np.concatenate([blocks[gate] for gate in ONNX_GATES[kind]])


def add_operator_layer(
    builder: GraphBuilder,
    cell: CellConfig,
    directions: list[DirectionWeights],
    x: str,
    sequence_lens: str,
    h_0: str | None,
    c_0: str | None,
) -> LayerOutputs:
    """Add one layer (one or two directions) as a single ONNX recurrent operator.

    Args:
        cell: the layer's cell configuration; it must not need a ``Scan`` (see
            :func:`rnnkit.export.recurrent.needs_scan`) nor a custom activation (see
            :func:`rnnkit.export.activations.cell_activations`).
        directions: the float32 weights of the forward and, if bidirectional, reverse
            direction (``DirectionWeights`` holding numpy arrays).
        x: ``(T, B, I)`` float32; sequence_lens: ``(B,)`` int32.
        h_0: ``(D, B, H)`` or ``None`` (zeros); c_0 likewise for an LSTM.
    """
    kind, hidden = cell.kind, cell.hidden_size
    name = f"{kind}_layer"
    input_weights = builder.initializer(
        f"{name}_W", np.stack([_onnx_order(d.w_ih, kind) for d in directions]))  # (D, G*H, I)
    recurrent_weights = builder.initializer(
        f"{name}_R", np.stack([_onnx_order(d.w_hh, kind) for d in directions]))  # (D, G*H, H)
    biases = None
    if cell.bias:
        biases = builder.initializer(f"{name}_B", np.stack([
            np.concatenate([_onnx_order(d.b_ih, kind), _onnx_order(d.b_hh, kind)])
            for d in directions
        ]))  # (D, 2*G*H)
    inputs = [x, input_weights, recurrent_weights, biases, sequence_lens, h_0]
    attributes = operator_attributes(cell_activations(cell) * len(directions))
    if kind == "lstm":
        peepholes = None
        if cell.peephole:
            peepholes = builder.initializer(f"{name}_P", np.stack([
                np.concatenate([getattr(d, field) for field in _PEEPHOLES]) for d in directions
            ]))  # (D, 3*H)
        inputs += [c_0, peepholes]
    if kind == "gru":
        attributes["linear_before_reset"] = int(cell.reset_after)
    outputs = builder.node(
        _OPERATORS[kind], inputs, 3 if kind == "lstm" else 2,
        hidden_size=hidden,
        direction="bidirectional" if len(directions) == 2 else "forward",
        **attributes,
    )
    y, h_n = outputs[0], outputs[1]
    y = builder.node("Transpose", [y], perm=[0, 2, 1, 3])  # (T, D, B, H) -> (T, B, D, H)
    flat = builder.constant("shape_time_batch_rest", np.array([0, 0, -1], dtype=np.int64))
    y = builder.node("Reshape", [y, flat])  # (T, B, D*H)
    return LayerOutputs(y, h_n, outputs[2] if kind == "lstm" else None)

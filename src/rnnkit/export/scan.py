"""One direction of a recurrent layer as an ONNX ``Scan`` over rnnkit's step equations.

This is the path for what ONNX's ``RNN``/``GRU``/``LSTM`` operators cannot express (layer norm,
an LSTM's projection, zoneout); the body computes the equations of
:mod:`rnnkit.nn.functional` in evaluation form, term by term in the same order:

- input projection, hoisted out of the loop as in every rnnkit kernel:
  ``x_proj = W_ih x + b_ih`` (``LN_ih(W_ih x) + b_ih`` with layer norm), ``(T, B, G*H)``;
- recurrent projection per step: ``LN_hh(W_hh h) + b_hh``, ``(B, G*H)``; each gate's block is
  normalised over its ``H`` units (gain only, the biases shift);
- RNN ``h' = act(x_proj + rec)``; GRU and LSTM as in :func:`rnnkit.nn.functional.gru_step`
  and :func:`rnnkit.nn.functional.lstm_step` (peepholes, ``LN_c`` and ``W_hr`` included);
- zoneout in evaluation form: ``h' = p ⊙ h + (1 - p) ⊙ h'`` (an LSTM's ``c`` with its own p);
- masking: ``running_t = t < length``; where it is false the state stays and the output is 0.

The reverse direction is this same ``Scan`` over each sequence reversed within its length
(``ReverseSequence``); the caller reverses the input and the output. :func:`add_cell_step`
writes the same equations once, outside any ``Scan``, for a cell that runs one step per graph
call (the translator's decoder).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from rnnkit.export.activations import OnnxActivation, apply_activation, cell_activations
from rnnkit.export.fused import LayerOutputs
from rnnkit.export.graph import GraphBuilder
from rnnkit.nn.config import CellConfig
from rnnkit.nn.functional import LAYER_NORM_EPS, DirectionWeights

__all__ = ["add_cell_step", "add_scan_direction", "zeros_state"]


def zeros_state(builder: GraphBuilder, x: str, size: int) -> str:
    """A ``(B, size)`` float32 zero state, ``B`` read from ``x`` ``(T, B, ·)`` at run time."""
    batch = builder.node("Shape", [x], start=1, end=2)  # (1,)
    size_value = builder.constant("state_size", np.array([size], dtype=np.int64))
    shape = builder.node("Concat", [batch, size_value], axis=0)  # (2,)
    zero = helper.make_tensor("value", TensorProto.FLOAT, [1], [0.0])
    return builder.node("ConstantOfShape", [shape], value=zero)


def _project(builder: GraphBuilder, x: str, weight: np.ndarray, hint: str) -> str:
    """``x · weightᵀ``: ``(..., in) -> (..., out)`` for a torch-layout ``weight (out, in)``."""
    transposed = builder.initializer(hint, np.ascontiguousarray(weight.T))
    return builder.node("MatMul", [x, transposed])


def _add(builder: GraphBuilder, x: str, bias: np.ndarray | None, hint: str) -> str:
    if bias is None:
        return x
    return builder.node("Add", [x, builder.initializer(hint, bias)])


def _gate_layer_norm(
    builder: GraphBuilder, pre: str, gain: np.ndarray, num_gates: int, leading: int
) -> str:
    """``gain ⊙ LN(block)`` for each gate's ``H``-unit block of ``pre`` ``(..., G*H)``, which
    has ``leading`` dimensions before the gates (as
    :func:`rnnkit.nn.functional.gate_layer_norm`)."""
    hidden = gain.shape[0] // num_gates
    blocks_shape = builder.constant(
        "gate_blocks_shape", np.array([0] * leading + [num_gates, hidden], dtype=np.int64))
    flat_shape = builder.constant("gates_flat_shape",
                                  np.array([0] * leading + [-1], dtype=np.int64))
    ones = builder.constant("layer_norm_unit_scale", np.ones(hidden, dtype=np.float32))
    blocks = builder.node("Reshape", [pre, blocks_shape])  # (..., G, H)
    normed = builder.node("LayerNormalization", [blocks, ones], axis=-1, epsilon=LAYER_NORM_EPS)
    normed = builder.node("Reshape", [normed, flat_shape])  # (..., G*H)
    return builder.node("Mul", [normed, builder.initializer("layer_norm_gain", gain)])


def _recurrent_projection(
    builder: GraphBuilder, h: str, w_hh: np.ndarray, b_hh: np.ndarray | None,
    gain: np.ndarray | None, num_gates: int,
) -> str:
    """``LN_hh(W_hh h) + b_hh``: ``(B, H_out) -> (B, G*H)`` (LN only when ``gain`` is given)."""
    projected = _project(builder, h, w_hh, "recurrent_weight_t")
    if gain is not None:
        projected = _gate_layer_norm(builder, projected, gain, num_gates, leading=1)
    return _add(builder, projected, b_hh, "recurrent_bias")


def _input_projection(
    builder: GraphBuilder, cell: CellConfig, weights: DirectionWeights, x: str, leading: int
) -> str:
    """``W_ih x + b_ih`` (``LN_ih(W_ih x) + b_ih``): ``(X, I) -> (X, G*H)``, where ``X`` is
    ``leading`` axes (``(T, B)`` for every step at once, ``(B,)`` for one step)."""
    projected = _project(builder, x, weights.w_ih, "input_weight_t")
    if cell.layer_norm:
        projected = _gate_layer_norm(builder, projected, weights.ln_ih, cell.num_gates,
                                     leading=leading)
    return _add(builder, projected, weights.b_ih, "input_bias")


def _zoneout(builder: GraphBuilder, previous: str, new: str, p: float) -> str:
    """``p ⊙ previous + (1 - p) ⊙ new``: zoneout's expectation, its evaluation form."""
    if p == 0.0:
        return new
    keep = builder.constant("zoneout_keep", np.array(p, dtype=np.float32))
    take = builder.constant("zoneout_take", np.array(1.0 - p, dtype=np.float32))
    return builder.node("Add", [builder.node("Mul", [keep, previous]),
                                builder.node("Mul", [take, new])])


def _split(builder: GraphBuilder, x: str, sizes: list[int]) -> list[str]:
    """Split ``(B, sum(sizes))`` along its last axis."""
    split = builder.constant("split_sizes", np.array(sizes, dtype=np.int64))
    return builder.node("Split", [x, split], len(sizes), axis=-1)


def _rnn_step(body, cell, weights, activations, x_proj, state):
    """``h' = act(x_proj + LN_hh(W_hh h) + b_hh)``."""
    (h,) = state
    rec = _recurrent_projection(body, h, weights.w_hh, weights.b_hh, weights.ln_hh, 1)
    return (apply_activation(body, activations[0], body.node("Add", [x_proj, rec])),)


def _gru_step(body, cell, weights, activations, x_proj, state):
    """r, z = σ(x_rz + rec_rz); n = act(x_n + r ⊙ rec_n) or act(x_n + LN(W_hn (r ⊙ h)) + b_hn);
    ``h' = (1 - z) ⊙ n + z ⊙ h``."""
    (h,) = state
    gate, activation = activations
    hidden = cell.hidden_size
    x_rz, x_n = _split(body, x_proj, [2 * hidden, hidden])
    if cell.reset_after:
        rec = _recurrent_projection(body, h, weights.w_hh, weights.b_hh, weights.ln_hh, 3)
        rec_rz, rec_n = _split(body, rec, [2 * hidden, hidden])
        r, z = _split(body, apply_activation(body, gate, body.node("Add", [x_rz, rec_rz])),
                      [hidden, hidden])
        candidate = body.node("Add", [x_n, body.node("Mul", [r, rec_n])])
    else:
        rz_rows, n_rows = slice(0, 2 * hidden), slice(2 * hidden, 3 * hidden)

        def rows(array, part):
            return None if array is None else array[part]

        rec_rz = _recurrent_projection(body, h, weights.w_hh[rz_rows],
                                       rows(weights.b_hh, rz_rows),
                                       rows(weights.ln_hh, rz_rows), 2)
        r, z = _split(body, apply_activation(body, gate, body.node("Add", [x_rz, rec_rz])),
                      [hidden, hidden])
        rec_n = _recurrent_projection(body, body.node("Mul", [r, h]), weights.w_hh[n_rows],
                                      rows(weights.b_hh, n_rows), rows(weights.ln_hh, n_rows), 1)
        candidate = body.node("Add", [x_n, rec_n])
    n = apply_activation(body, activation, candidate)
    one = body.constant("one", np.array(1.0, dtype=np.float32))
    return (body.node("Add", [body.node("Mul", [body.node("Sub", [one, z]), n]),
                              body.node("Mul", [z, h])]),)


def _lstm_step(body, cell, weights, activations, x_proj, state):
    """``i, f, o = σ(…)`` (peepholes ``w_ci ⊙ c``, ``w_cf ⊙ c``, ``w_co ⊙ c'``), ``g = act(…)``,
    ``c' = f ⊙ c + i ⊙ g``, ``h' = W_hr (o ⊙ act(LN_c(c')))``."""
    h, c = state
    gate, activation, _ = activations
    rec = _recurrent_projection(body, h, weights.w_hh, weights.b_hh, weights.ln_hh, 4)
    pre = body.node("Add", [x_proj, rec])  # (B, 4H)
    pre_i, pre_f, pre_g, pre_o = body.node("Split", [pre], 4, axis=-1, num_outputs=4)
    if weights.w_ci is not None:
        pre_i = body.node("Add", [pre_i, body.node(
            "Mul", [body.initializer("peephole_i", weights.w_ci), c])])
        pre_f = body.node("Add", [pre_f, body.node(
            "Mul", [body.initializer("peephole_f", weights.w_cf), c])])
    i, f = apply_activation(body, gate, pre_i), apply_activation(body, gate, pre_f)
    g = apply_activation(body, activation, pre_g)
    c_new = body.node("Add", [body.node("Mul", [f, c]), body.node("Mul", [i, g])])
    if weights.w_co is not None:
        pre_o = body.node("Add", [pre_o, body.node(
            "Mul", [body.initializer("peephole_o", weights.w_co), c_new])])
    o = apply_activation(body, gate, pre_o)
    c_out = c_new
    if cell.layer_norm:
        c_out = body.node("LayerNormalization", [
            c_new,
            body.initializer("layer_norm_c_weight", weights.ln_c_weight),
            body.initializer("layer_norm_c_bias", weights.ln_c_bias),
        ], axis=-1, epsilon=LAYER_NORM_EPS)
    h_new = body.node("Mul", [o, apply_activation(body, activation, c_out)])
    if weights.w_hr is not None:
        h_new = _project(body, h_new, weights.w_hr, "projection_weight_t")  # (B, P)
    return h_new, c_new


_STEPS = {"rnn": _rnn_step, "gru": _gru_step, "lstm": _lstm_step}


def _new_state(
    builder: GraphBuilder, cell: CellConfig, weights: DirectionWeights,
    activations: list[OnnxActivation], x_proj: str, state: list[str],
) -> list[str]:
    """The cell's step and then zoneout's evaluation form: ``(h,)`` or ``(h, c)`` after one
    step from ``state``, given the step's input projection ``x_proj (B, G*H)``."""
    new_state = _STEPS[cell.kind](builder, cell, weights, activations, x_proj, state)
    zoneouts = [cell.zoneout_h, cell.zoneout_c]
    return [_zoneout(builder, old, new, p) for old, new, p in zip(state, new_state, zoneouts)]


def add_cell_step(
    builder: GraphBuilder, cell: CellConfig, weights: DirectionWeights, x: str,
    state: list[str],
) -> list[str]:
    """Add one step of a cell (every option of :mod:`rnnkit.nn.functional`, as a ``Scan``
    body computes it) to ``builder``'s graph: ``x (B, I)`` and ``state`` ``[h (B, H_out)]``,
    with an LSTM's ``c (B, H)`` after it → the new state, laid out the same way.

    Raises:
        ValueError: a custom activation (see
            :func:`rnnkit.export.activations.cell_activations`).
    """
    activations = cell_activations(cell)
    x_proj = _input_projection(builder, cell, weights, x, leading=1)  # (B, G*H)
    return _new_state(builder, cell, weights, activations, x_proj, state)


def _step_body(
    builder: GraphBuilder, cell: CellConfig, weights: DirectionWeights,
    activations: list[OnnxActivation],
) -> GraphBuilder:
    """The ``Scan`` body: states and ``(x_proj_t, running_t)`` in; new states and ``out_t`` out."""
    body = builder.subgraph(f"{cell.kind}_step")
    sizes = [cell.output_size] + ([cell.hidden_size] if cell.kind == "lstm" else [])
    names = ["h", "c"][: len(sizes)]
    state = [body.input(f"{body.name}_{name}", np.float32, ("batch", size))
             for name, size in zip(names, sizes)]
    x_proj = body.input(f"{body.name}_x_proj", np.float32,
                        ("batch", cell.num_gates * cell.hidden_size))
    running = body.input(f"{body.name}_running", np.bool_, ("batch", 1))
    new_state = _new_state(body, cell, weights, activations, x_proj, state)
    zero = body.constant("zero", np.array(0.0, dtype=np.float32))
    for name, old, new, size in zip(names, state, new_state, sizes):
        kept = body.node("Where", [running, new, old])  # frozen past the sequence's length
        body.output(kept, f"{body.name}_{name}_next", np.float32, ("batch", size))
    output = body.node("Where", [running, new_state[0], zero])
    body.output(output, f"{body.name}_output", np.float32, ("batch", cell.output_size))
    return body


def add_scan_direction(
    builder: GraphBuilder,
    cell: CellConfig,
    weights: DirectionWeights,
    x: str,
    running: str,
    h_0: str,
    c_0: str | None,
) -> LayerOutputs:
    """Add one direction of one layer as a ``Scan`` over time.

    Args:
        cell: the layer's cell configuration.
        weights: the direction's float32 weights (``DirectionWeights`` holding numpy arrays).
        x: ``(T, B, I)``, already reversed within each length for a reverse direction.
        running: ``(T, B, 1)`` bool, ``t < lengths[b]``.
        h_0: ``(B, H_out)``; c_0: ``(B, H)`` for an LSTM, else ``None``.
    Returns:
        ``output (T, B, H_out)`` (zero past each length), ``h_n (B, H_out)`` and ``c_n (B, H)``
        (an LSTM's, else ``None``): the state at each sequence's last token.
    """
    activations = cell_activations(cell)
    projected = _input_projection(builder, cell, weights, x, leading=2)  # (T, B, G*H)
    body = _step_body(builder, cell, weights, activations)
    states = [h_0] if c_0 is None else [h_0, c_0]
    outputs = builder.node("Scan", [*states, projected, running], len(states) + 1,
                           body=body.to_graph(), num_scan_inputs=2)
    if c_0 is None:
        h_n, output = outputs
        return LayerOutputs(output, h_n, None)
    h_n, c_n, output = outputs
    return LayerOutputs(output, h_n, c_n)

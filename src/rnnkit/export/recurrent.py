"""rnnkit's recurrent layers (:class:`rnnkit.nn.RecurrentLayer`) as ONNX graphs.

:func:`add_recurrent` adds a layer's evaluation forward to a graph being built;
:func:`layer_to_onnx` makes a model of one layer. The graph computes what ``layer.eval()``
returns for ``lengths=`` (any batch size and length; no dummy input is traced), in float32.

Graph conventions (the task graphs and the onnxruntime pipelines rely on them):

- ``x`` is time-major ``(T, B, I)`` float32, ``lengths`` ``(B,)`` int64 in ``[1, T]`` (or
  omitted: every sequence has ``T`` steps); values outside ``[1, T]`` are not checked;
- ``h_0``/``c_0`` are ``(L*D, B, H_out)``/``(L*D, B, H)``, or omitted (zeros);
- ``output`` is ``(T, B, D*H_out)``, zero past each sequence's length; ``h_n``/``c_n`` are
  ``(L*D, B, H_out)``/``(L*D, B, H)``, the state at each sequence's own last token (the
  reverse direction's: after its first token), as the layer's.

Each layer exports as ONNX's own ``RNN``/``GRU``/``LSTM`` operator (both directions in one,
with ``sequence_lens``; see :mod:`rnnkit.export.fused`) when the operator computes its
cell, i.e. unless the cell has:

- ``layer_norm=True``,
- ``proj_size > 0`` (an LSTM's projection),
- ``zoneout > 0`` (for ``h`` or an LSTM's ``c``);

those layers export as a ``Scan`` per direction over rnnkit's step equations (see
:mod:`rnnkit.export.scan`). Every built-in activation, peepholes, both GRU forms, ``bias=False``
and ``go_backwards`` go either way. Options that are the identity in evaluation export as
nothing: ``dropout`` between layers, ``input_dropout``, ``recurrent_dropout``, ``weight_drop``;
so do those that only act in training (``*_regularizer``, ``*_constraint``, initializers,
``unit_forget_bias``) and ``impl``. The graph is the evaluation forward even for a layer left
in training mode.

Export refuses only what has no ONNX form at all:

- a custom :class:`rnnkit.nn.activations.Activation` as ``activation`` or (LSTM, GRU)
  ``recurrent_activation`` — a Python function, not one of rnnkit's built-in activations
  (``ValueError`` naming the layer, the argument and the activation's name);
- a layer that is not rnnkit's, e.g. a ``torch.nn.LSTM`` (``TypeError``; load its state dict
  into ``rnnkit.nn.LSTM``, which takes torch's weights as they are).

Weights are read from the layer's parameters when the graph is built and stored as float32
(a float64 layer's graph runs in float32); later changes to the layer do not reach the graph.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import onnx
import torch
from onnx import TensorProto
from torch import nn

from rnnkit.export.activations import cell_activations
from rnnkit.export.fused import add_operator_layer
from rnnkit.export.graph import GraphBuilder
from rnnkit.export.scan import add_scan_direction, zeros_state
from rnnkit.nn import parameters
from rnnkit.nn.config import CellConfig
from rnnkit.nn.functional import DirectionWeights
from rnnkit.nn.layers import RecurrentLayer

__all__ = ["RecurrentOutputs", "add_recurrent", "check_exportable", "layer_to_onnx",
           "needs_scan", "numpy_weights"]


class RecurrentOutputs(NamedTuple):
    """Graph values of a recurrent layer: ``output (T, B, D*H_out)``, ``h_n (L*D, B, H_out)``,
    ``c_n (L*D, B, H)`` (an LSTM's, else ``None``)."""

    output: str
    h_n: str
    c_n: str | None


def needs_scan(cell: CellConfig) -> bool:
    """True when ONNX's recurrent operators cannot compute ``cell``'s evaluation forward
    (layer norm, projection or zoneout), so it exports as a ``Scan``."""
    return cell.layer_norm or cell.proj_size > 0 or cell.zoneout_h > 0 or cell.zoneout_c > 0


def check_exportable(layer: RecurrentLayer) -> None:
    """Raise the export's refusal for ``layer``, if any (see the module docstring).

    Raises:
        TypeError: ``layer`` is not an rnnkit recurrent layer (e.g. a ``torch.nn.LSTM``:
            load its state dict into ``rnnkit.nn.LSTM``).
        ValueError: a custom activation, naming the layer, the argument and the activation.
    """
    if not isinstance(layer, RecurrentLayer):
        raise TypeError(
            "rnnkit.export: expected layer to be an rnnkit.nn RNN, LSTM or GRU, got "
            f"{type(layer).__module__}.{type(layer).__name__}"
        )
    cell_activations(layer.config.cell)


def numpy_weights(module: nn.Module, cell: CellConfig, suffix: str = "") -> DirectionWeights:
    """The parameters of one direction of ``module`` (a layer's, with its ``_l{k}[_reverse]``
    ``suffix``, or a cell's, without) as float32 numpy arrays, in a ``DirectionWeights``."""
    tensors = parameters.direction_weights(module, cell, suffix)
    return DirectionWeights(*(
        None if tensor is None else tensor.detach().to("cpu", torch.float32).numpy()
        for tensor in tensors
    ))


def _layer_weights(layer: RecurrentLayer) -> list[list[DirectionWeights]]:
    """``[layer][direction]`` float32 weights of ``layer``."""
    config = layer.config
    return [
        [
            numpy_weights(layer, config.layer_cell(index),
                           parameters.direction_suffix(index, reverse=direction == 1))
            for direction in range(config.num_directions)
        ]
        for index in range(config.num_layers)
    ]


def _running_mask(builder: GraphBuilder, x: str, lengths: str) -> str:
    """``(T, B, 1)`` bool: ``t < lengths[b]``."""
    steps = builder.node("Squeeze", [builder.node("Shape", [x], start=0, end=1)])  # ()
    start = builder.constant("zero_int64", np.array(0, dtype=np.int64))
    delta = builder.constant("one_int64", np.array(1, dtype=np.int64))
    times = builder.node("Range", [start, steps, delta])  # (T,)
    axis_1 = builder.constant("axes_1", np.array([1], dtype=np.int64))
    axis_0 = builder.constant("axes_0", np.array([0], dtype=np.int64))
    running = builder.node("Less", [builder.node("Unsqueeze", [times, axis_1]),  # (T, 1)
                                    builder.node("Unsqueeze", [lengths, axis_0])])  # (1, B)
    axis_2 = builder.constant("axes_2", np.array([2], dtype=np.int64))
    return builder.node("Unsqueeze", [running, axis_2])  # (T, B, 1)


def _full_lengths(builder: GraphBuilder, x: str) -> str:
    """``(B,)`` int64, every entry ``T``, for ``x`` ``(T, B, ·)``."""
    steps = builder.node("Shape", [x], start=0, end=1)  # (1,)
    batch = builder.node("Shape", [x], start=1, end=2)  # (1,)
    return builder.node("Expand", [steps, batch])  # (B,)


def _reverse(builder: GraphBuilder, x: str, lengths: str) -> str:
    """Reverse each sequence of ``(T, B, ·)`` within its own length; padding stays put."""
    return builder.node("ReverseSequence", [x, lengths], batch_axis=1, time_axis=0)


def _state_rows(builder: GraphBuilder, state: str | None, start: int, stop: int) -> str | None:
    """Rows ``start:stop`` of an ``(L*D, B, ·)`` state, or ``None`` for ``None``."""
    if state is None:
        return None
    starts = builder.constant("state_start", np.array([start], dtype=np.int64))
    stops = builder.constant("state_stop", np.array([stop], dtype=np.int64))
    axes = builder.constant("state_axis", np.array([0], dtype=np.int64))
    return builder.node("Slice", [state, starts, stops, axes])


def _scan_layer(builder, cell, directions, x, lengths, running, h_0, c_0, first_row):
    """One layer as a ``Scan`` per direction; returns ``output (T, B, D*H_out)`` and the
    per-direction states, each ``(1, B, ·)``."""
    axis_0 = builder.constant("axes_0", np.array([0], dtype=np.int64))
    outputs, final_h, final_c = [], [], []
    for direction, weights in enumerate(directions):
        row = first_row + direction
        if h_0 is None:
            h = zeros_state(builder, x, cell.output_size)
        else:
            h = builder.node("Squeeze", [_state_rows(builder, h_0, row, row + 1), axis_0])
        c = None
        if cell.kind == "lstm":
            c = (zeros_state(builder, x, cell.hidden_size) if c_0 is None else
                 builder.node("Squeeze", [_state_rows(builder, c_0, row, row + 1), axis_0]))
        sequence = x if direction == 0 else _reverse(builder, x, lengths)
        result = add_scan_direction(builder, cell, weights, sequence, running, h, c)
        output = result.output if direction == 0 else _reverse(builder, result.output, lengths)
        outputs.append(output)
        final_h.append(builder.node("Unsqueeze", [result.h_n, axis_0]))
        if result.c_n is not None:
            final_c.append(builder.node("Unsqueeze", [result.c_n, axis_0]))
    output = outputs[0] if len(outputs) == 1 else builder.node("Concat", outputs, axis=-1)
    return output, final_h, final_c


def add_recurrent(
    builder: GraphBuilder,
    layer: RecurrentLayer,
    x: str,
    lengths: str | None = None,
    h_0: str | None = None,
    c_0: str | None = None,
) -> RecurrentOutputs:
    """Add ``layer``'s evaluation forward to ``builder``'s graph.

    Args:
        layer: an rnnkit ``RNN``, ``LSTM`` or ``GRU`` (its ``batch_first`` is ignored: the
            graph is time-major; :func:`layer_to_onnx` transposes for it).
        x: ``(T, B, I)`` float32; lengths: ``(B,)`` int64, each in ``[1, T]``, or ``None``
            when every sequence has ``T`` steps (e.g. a decoder's one-step graph).
        h_0: ``(L*D, B, H_out)`` or ``None`` (zeros); c_0: ``(L*D, B, H)`` or ``None``, an
            LSTM's only.
    Returns:
        ``output (T, B, D*H_out)``, ``h_n (L*D, B, H_out)`` and ``c_n (L*D, B, H)`` (``None``
        but for an LSTM), as ``layer.eval()(x, h_0 or (h_0, c_0), lengths=lengths)`` gives.

    Raises:
        TypeError, ValueError: as :func:`check_exportable`.
        ValueError: ``c_0`` is given for a layer that is not an LSTM.
    """
    check_exportable(layer)
    config = layer.config
    if c_0 is not None and config.cell.kind != "lstm":
        raise ValueError(f"{config.cell.owner}: c_0 applies to an LSTM only, got c_0={c_0!r}")
    directions = config.num_directions
    if lengths is None:
        lengths = _full_lengths(builder, x)
    if config.go_backwards:
        x = _reverse(builder, x, lengths)
    scan = needs_scan(config.cell)
    running = _running_mask(builder, x, lengths) if scan else None
    sequence_lens = None if scan else builder.node("Cast", [lengths], to=TensorProto.INT32)
    final_h, final_c = [], []
    for index, weights in enumerate(_layer_weights(layer)):
        cell = config.layer_cell(index)
        first, stop = index * directions, (index + 1) * directions
        if scan:
            x, layer_h, layer_c = _scan_layer(builder, cell, weights, x, lengths, running,
                                              h_0, c_0, first)
            final_h += layer_h
            final_c += layer_c
        else:
            result = add_operator_layer(builder, cell, weights, x, sequence_lens,
                                        _state_rows(builder, h_0, first, stop),
                                        _state_rows(builder, c_0, first, stop))
            x = result.output
            final_h.append(result.h_n)
            if result.c_n is not None:
                final_c.append(result.c_n)
    h_n = builder.node("Concat", final_h, axis=0)  # (L*D, B, H_out)
    c_n = builder.node("Concat", final_c, axis=0) if final_c else None  # (L*D, B, H)
    return RecurrentOutputs(x, h_n, c_n)


def layer_to_onnx(
    layer: RecurrentLayer, path: str | os.PathLike | None = None
) -> onnx.ModelProto:
    """An ONNX model of ``layer``'s evaluation forward; saved to ``path`` when given.

    Inputs: ``x`` ``(T, B, I)`` (``(B, T, I)`` with ``batch_first``) float32, ``lengths``
    ``(B,)`` int64, ``h_0`` ``(L*D, B, H_out)`` and, for an LSTM, ``c_0`` ``(L*D, B, H)``
    (pass zeros for none). Outputs: ``output`` laid out like ``x`` with ``D*H_out`` features,
    ``h_n`` and (LSTM) ``c_n``. ``B`` and ``T`` are symbolic (``batch``, ``time``).

    Returns:
        the checked ``onnx.ModelProto``.
    Raises:
        TypeError, ValueError: as :func:`check_exportable`.
    """
    check_exportable(layer)
    config, cell = layer.config, layer.config.cell
    states = config.num_layers * config.num_directions
    batch_first = config.batch_first
    builder = GraphBuilder(f"rnnkit_{cell.kind}")
    axes = ("batch", "time") if batch_first else ("time", "batch")
    x = builder.input("x", np.float32, (*axes, cell.input_size))
    lengths = builder.input("lengths", np.int64, ("batch",))
    h_0 = builder.input("h_0", np.float32, (states, "batch", cell.output_size))
    c_0 = None
    if cell.kind == "lstm":
        c_0 = builder.input("c_0", np.float32, (states, "batch", cell.hidden_size))
    if batch_first:
        x = builder.node("Transpose", [x], perm=[1, 0, 2])  # (B, T, I) -> (T, B, I)
    result = add_recurrent(builder, layer, x, lengths, h_0, c_0)
    output = result.output
    if batch_first:
        output = builder.node("Transpose", [output], perm=[1, 0, 2])  # (T, B, ·) -> (B, T, ·)
    features = config.num_directions * cell.output_size
    builder.output(output, "output", np.float32, (*axes, features))
    builder.output(result.h_n, "h_n", np.float32, (states, "batch", cell.output_size))
    if result.c_n is not None:
        builder.output(result.c_n, "c_n", np.float32, (states, "batch", cell.hidden_size))
    model = builder.to_model(doc_string=f"rnnkit {cell.owner} layer: {layer.extra_repr()}")
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model

"""The building blocks the task graphs share: weights, embeddings, linear layers, axes, masks
from lengths, masked softmax and attention pooling, written as ONNX nodes.

Shapes use the package's letters (see :mod:`rnnkit`); ``X`` stands for any leading axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from rnnkit.export.graph import GraphBuilder
from rnnkit.export.manifest import GraphSpec, TensorSpec


def weight(builder: GraphBuilder, hint: str, tensor: Tensor) -> str:
    """``tensor`` stored as a float32 initializer; its name."""
    return builder.initializer(hint, tensor.detach().cpu().to(torch.float32).numpy())


def ints(builder: GraphBuilder, hint: str, values: list[int]) -> str:
    """An int64 1-D constant (axes of Unsqueeze/ReduceSum, shapes, slice bounds)."""
    return builder.constant(hint, np.array(values, dtype=np.int64))


def scalar(builder: GraphBuilder, hint: str, value: float) -> str:
    """A float32 scalar constant."""
    return builder.constant(hint, np.array(value, dtype=np.float32))


def integer(builder: GraphBuilder, hint: str, value: int) -> str:
    """An int64 scalar constant."""
    return builder.constant(hint, np.array(value, dtype=np.int64))


def size(builder: GraphBuilder, value: str, axis: int) -> str:
    """The length of ``value``'s ``axis`` as a 1-D int64 tensor of one element."""
    return builder.node("Shape", [value], start=axis, end=axis + 1)


def unsqueeze(builder: GraphBuilder, value: str, axes: list[int]) -> str:
    return builder.node("Unsqueeze", [value, ints(builder, "axes", axes)])


def squeeze(builder: GraphBuilder, value: str, axes: list[int]) -> str:
    return builder.node("Squeeze", [value, ints(builder, "axes", axes)])


def transpose(builder: GraphBuilder, value: str, perm: list[int]) -> str:
    return builder.node("Transpose", [value], perm=perm)


def embed(builder: GraphBuilder, embedding: nn.Embedding | Tensor, ids: str, hint: str) -> str:
    """``E[ids]``: ids ``(X)`` int64 → ``(X, E)``."""
    table = embedding.weight if isinstance(embedding, nn.Embedding) else embedding
    return builder.node("Gather", [weight(builder, hint, table), ids], axis=0)


def linear(builder: GraphBuilder, x: str, module: nn.Linear, hint: str) -> str:
    """``x W^T + b``: ``(X, I)`` → ``(X, O)``; the weight is stored transposed, ``(I, O)``."""
    projected = builder.node("MatMul", [x, weight(builder, f"{hint}_weight_t", module.weight.T)])
    if module.bias is None:
        return projected
    return builder.node("Add", [projected, weight(builder, f"{hint}_bias", module.bias)])


def time_mask(builder: GraphBuilder, steps: str, lengths: str, time_major: bool) -> str:
    """Bool mask, True at real steps: ``(T, B)`` when ``time_major`` else ``(B, T)``.

    ``steps``: the 1-D ``[T]`` of :func:`size`; ``lengths (B,)`` int64. ``mask[t, b] = t <
    lengths[b]``.
    """
    count = squeeze(builder, steps, [0])  # scalar T
    positions = builder.node("Range", [integer(builder, "zero", 0), count,
                                       integer(builder, "one", 1)])  # (T,)
    if time_major:
        return builder.node("Less", [unsqueeze(builder, positions, [1]),
                                     unsqueeze(builder, lengths, [0])])  # (T, 1) < (1, B)
    return builder.node("Less", [unsqueeze(builder, positions, [0]),
                                 unsqueeze(builder, lengths, [1])])  # (1, T) < (B, 1)


def masked_softmax(builder: GraphBuilder, scores: str, mask: str, axis: int) -> str:
    """Softmax of ``scores`` over ``axis`` where ``mask`` is True, exactly 0 elsewhere (the
    masked scores become -inf, as :func:`rnnkit.models.attention.masked_softmax` does)."""
    minus_infinity = scalar(builder, "minus_infinity", float("-inf"))
    masked = builder.node("Where", [mask, scores, minus_infinity])
    return builder.node("Softmax", [masked], axis=axis)


def top_layer_state(builder: GraphBuilder, h_n: str, num_layers: int, directions: int) -> str:
    """The top layer's final state, its directions side by side (``[→h ; ←h]``):
    ``h_n (L*D, B, H)`` → ``(B, D*H)``."""
    rows = num_layers * directions
    top = builder.node("Slice", [h_n, ints(builder, "top_start", [rows - directions]),
                                 ints(builder, "top_end", [rows]),
                                 ints(builder, "layer_axis", [0])])  # (D, B, H)
    top = transpose(builder, top, [1, 0, 2])  # (B, D, H)
    return builder.node("Reshape", [top, ints(builder, "flat", [0, -1])])  # (B, D*H)


def full_lengths(builder: GraphBuilder, steps: str, batch: str) -> str:
    """``(B,)`` int64 lengths that are all ``T`` (every row runs every step)."""
    return builder.node("Expand", [steps, batch])


NUMPY_DTYPES = {"int64": np.int64, "float32": np.float32, "bool": np.bool_}


class TaskGraph(NamedTuple):
    """One exported graph: the ONNX model and its entry of the manifest."""

    model: onnx.ModelProto
    spec: GraphSpec


def declare_inputs(builder: GraphBuilder, specs: Sequence[TensorSpec]) -> dict[str, str]:
    """Declare each spec as a graph input; its value name by spec name."""
    return {spec.name: builder.input(spec.name, NUMPY_DTYPES[spec.dtype], spec.shape)
            for spec in specs}


def finish(builder: GraphBuilder, role: str, inputs: Sequence[TensorSpec],
           outputs: Sequence[tuple[str, TensorSpec]], description: str) -> TaskGraph:
    """Declare ``(value, spec)`` pairs as the graph's outputs and build the checked model of
    ``role`` (written to ``<role>.onnx``)."""
    for value, spec in outputs:
        builder.output(value, spec.name, NUMPY_DTYPES[spec.dtype], spec.shape)
    spec = GraphSpec(f"{role}.onnx", tuple(inputs), tuple(spec for _, spec in outputs))
    return TaskGraph(builder.to_model(description), spec)

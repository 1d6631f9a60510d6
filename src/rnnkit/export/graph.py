"""A small builder of ONNX graphs over :mod:`onnx.helper`: unique names, weights, nodes, typed
inputs and outputs with symbolic axes, subgraphs for ``Scan``/``Loop`` bodies.

Every graph rnnkit exports is written with it, so names never collide and every model carries
the same opset (:data:`OPSET`). Weights are float32 numpy arrays stored as initializers of the
outermost graph; a subgraph refers to them by name (ONNX's outer scope), so each weight is
stored once however many bodies read it.

Example::

    >>> import numpy as np
    >>> builder = GraphBuilder("scale")
    >>> x = builder.input("x", np.float32, ("batch", 3))
    >>> two = builder.initializer("two", np.array(2.0, dtype=np.float32))
    >>> builder.output(builder.node("Mul", [x, two]), "y", np.float32, ("batch", 3))
    'y'
    >>> model = builder.to_model()
    >>> model.opset_import[0].version == OPSET
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rnnkit.extras import require

onnx = require("onnx", "onnx", "ONNX export")
helper, numpy_helper = onnx.helper, onnx.numpy_helper

__all__ = ["OPSET", "Axis", "GraphBuilder"]

OPSET = 20
"""The default-domain opset of every exported model (onnxruntime ≥ 1.18 runs it)."""

Axis = int | str | None
"""One dimension of a graph input or output: a size, a symbolic name (``"batch"``) or unknown."""


class GraphBuilder:
    """Builds one ONNX graph; :meth:`subgraph` builds a body that shares its names and weights.

    Args:
        name: the graph's name (a subgraph's name is made unique among the model's names).
        parent: the builder of the enclosing graph; ``None`` for the model's main graph.
    """

    def __init__(self, name: str, parent: GraphBuilder | None = None) -> None:
        self._root = self if parent is None else parent._root
        self._taken: set[str] = set() if parent is None else self._root._taken
        self.name = name if parent is None else self.unique(name)
        self._nodes: list[onnx.NodeProto] = []
        self._inputs: list[onnx.ValueInfoProto] = []
        self._outputs: list[onnx.ValueInfoProto] = []
        self._initializers: list[onnx.TensorProto] = []
        self._constants: dict[tuple[str, tuple[int, ...], bytes], str] = {}

    def unique(self, hint: str) -> str:
        """A name no value, node or graph of this model has yet: ``hint``, else ``hint_1``, …"""
        name, count = hint, 0
        while name in self._taken:
            count += 1
            name = f"{hint}_{count}"
        self._taken.add(name)
        return name

    def initializer(self, hint: str, array: np.ndarray | Sequence[Any] | float) -> str:
        """Store ``array`` as a weight of the model's main graph; returns its (unique) name.

        A Python number or list becomes an array of numpy's default type for it (``int64``
        for integers, ``float64`` for floats): pass a numpy array to fix the dtype.
        """
        name = self._root.unique(hint)
        self._root._initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def constant(self, hint: str, array: np.ndarray) -> str:
        """Like :meth:`initializer`, but an equal array (same dtype, shape and values) stored
        before is reused: for the small shapes, axes and scalars graphs repeat."""
        array = np.asarray(array)
        key = (array.dtype.str, array.shape, array.tobytes())
        constants = self._root._constants
        if key not in constants:
            constants[key] = self.initializer(hint, array)
        return constants[key]

    def node(
        self,
        op: str,
        inputs: Sequence[str | None],
        outputs: int | Sequence[str] = 1,
        **attributes: Any,
    ) -> str | list[str]:
        """Append an ``op`` node; returns its output name, or a list of names for several.

        ``inputs`` may hold ``None`` (or ``""``) for an omitted optional input (trailing ones
        are dropped). ``outputs`` is
        a count (names are made from ``op``) or the names themselves, which must be unused.
        Attributes are passed to :func:`onnx.helper.make_node` (a ``GraphProto`` attribute
        is a subgraph, e.g. a ``Scan`` body from :meth:`to_graph`).
        """
        if isinstance(outputs, int):
            if outputs < 1:
                raise ValueError(f"GraphBuilder.node: outputs must be at least 1, got {outputs}")
            names = [self.unique(op.lower()) for _ in range(outputs)]
        else:
            names = [self._claim(name) for name in outputs]
        names_in = ["" if value is None else value for value in inputs]
        while names_in and not names_in[-1]:
            names_in.pop()
        self._nodes.append(
            helper.make_node(
                op,
                names_in,
                names,
                name=self.unique(f"{op}_node"),
                **attributes,
            )
        )
        return names[0] if len(names) == 1 else names

    def input(self, name: str, dtype: type | np.dtype, shape: Sequence[Axis]) -> str:
        """Declare a graph input; ``shape`` lists sizes, symbolic names and ``None`` (any)."""
        self._inputs.append(_value_info(self._claim(name), dtype, shape))
        return name

    def output(
        self, value: str, name: str, dtype: type | np.dtype, shape: Sequence[Axis]
    ) -> str:
        """Declare ``value`` a graph output called ``name`` (an ``Identity`` renames it)."""
        if value != name:
            value = self.node("Identity", [value], [name])
        self._outputs.append(_value_info(name, dtype, shape))
        return name

    def subgraph(self, name: str) -> GraphBuilder:
        """A builder of a body graph (for ``Scan``/``Loop``) sharing this model's names and
        weights; pass its :meth:`to_graph` as the node's ``body`` attribute."""
        return GraphBuilder(name, parent=self)

    def to_graph(self) -> onnx.GraphProto:
        """The graph as built so far (a main graph carries every initializer)."""
        return helper.make_graph(
            self._nodes,
            self.name,
            self._inputs,
            self._outputs,
            initializer=self._initializers,
        )

    def to_model(self, doc_string: str = "") -> onnx.ModelProto:
        """The main graph as a checked model with opset :data:`OPSET`.

        Raises:
            ValueError: called on a subgraph's builder.
            onnx.checker.ValidationError: the graph is not valid ONNX.
        """
        if self._root is not self:
            raise ValueError(f"GraphBuilder.to_model: {self.name!r} is a subgraph's builder")
        opsets = [helper.make_opsetid("", OPSET)]
        model = helper.make_model(
            self.to_graph(),
            opset_imports=opsets,
            ir_version=helper.find_min_ir_version_for(opsets),
            producer_name="rnnkit",
            doc_string=doc_string,
        )
        onnx.checker.check_model(model, full_check=True)
        return model

    def _claim(self, name: str) -> str:
        if name in self._taken:
            raise ValueError(f"GraphBuilder: the name {name!r} is already used in this model")
        self._taken.add(name)
        return name


def _value_info(name: str, dtype: type | np.dtype, shape: Sequence[Axis]) -> onnx.ValueInfoProto:
    element_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return helper.make_tensor_value_info(name, element_type, list(shape))

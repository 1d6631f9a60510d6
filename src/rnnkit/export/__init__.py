"""rnnkit.export: ONNX graphs of rnnkit's models, for onnxruntime.

Needs the ``onnx`` extra (``pip install 'rnnkit[onnx]'``); importing this package never
imports onnxruntime, which only running a graph needs.

- :mod:`rnnkit.export.graph`: :class:`GraphBuilder`, the small graph builder every export
  uses, and :data:`OPSET`.
- :mod:`rnnkit.export.recurrent`: :func:`add_recurrent` (a recurrent layer inside a graph)
  and :func:`layer_to_onnx` (a model of one layer); its docstring lists the graph conventions
  and what export refuses.
"""

from rnnkit.export.graph import OPSET, GraphBuilder
from rnnkit.export.recurrent import (
    RecurrentOutputs,
    add_recurrent,
    check_exportable,
    layer_to_onnx,
    needs_scan,
)

__all__ = [
    "OPSET",
    "GraphBuilder",
    "RecurrentOutputs",
    "add_recurrent",
    "check_exportable",
    "layer_to_onnx",
    "needs_scan",
]

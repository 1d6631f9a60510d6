"""rnnkit.export: ONNX graphs of rnnkit's models, for onnxruntime.

Needs the ``onnx`` extra (``pip install 'rnnkit[onnx]'``); importing this package never
imports onnxruntime, which only running a graph needs.

- :mod:`rnnkit.export.graph`: :class:`GraphBuilder`, the small graph builder every export uses,
  and :data:`OPSET`.
"""

from rnnkit.export.graph import OPSET, GraphBuilder

__all__ = ["OPSET", "GraphBuilder"]

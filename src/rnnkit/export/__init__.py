"""rnnkit.export: ONNX graphs of rnnkit's models, the export directory, for onnxruntime.

- :mod:`rnnkit.export.manifest`: the export directory's layout and each task's graphs; it
  imports neither torch nor onnx, so the onnxruntime path can read it.
- :func:`to_onnx` (needs torch and the ``onnx`` extra, ``pip install 'rnnkit[onnx]'``): writes
  an export directory from a trained model.
- :mod:`rnnkit.export.graph`: :class:`GraphBuilder`, the small graph builder every export
  uses, and :data:`OPSET`.
- :mod:`rnnkit.export.recurrent`: :func:`add_recurrent` (a recurrent layer inside a graph)
  and :func:`layer_to_onnx` (a model of one layer); its docstring lists the graph conventions
  and what export refuses.

Importing this package imports none of torch, onnx or onnxruntime: each name below loads its
module on first use.
"""

from rnnkit._lazy import lazy_exports

_MODULES = {
    "OPSET": "graph",
    "GraphBuilder": "graph",
    "RecurrentOutputs": "recurrent",
    "add_recurrent": "recurrent",
    "check_exportable": "recurrent",
    "layer_to_onnx": "recurrent",
    "needs_scan": "recurrent",
    "to_onnx": "writer",
}

__all__ = ["OPSET", "GraphBuilder", "RecurrentOutputs", "add_recurrent", "check_exportable",
           "layer_to_onnx", "needs_scan", "to_onnx"]

__getattr__, __dir__ = lazy_exports(__name__, _MODULES)

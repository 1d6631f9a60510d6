"""rnnkit.export: ONNX graphs of rnnkit's models, the export directory, for onnxruntime.

- :mod:`rnnkit.export.manifest`: the export directory's layout and each task's graphs; it
  imports neither torch nor onnx, so the onnxruntime path can read it.
- :func:`to_onnx` (needs torch and the ``onnx`` extra, ``pip install 'rnnkit[onnx]'``): writes
  an export directory from a trained model.
- :mod:`rnnkit.export.graph`: :class:`GraphBuilder`, the small graph builder every export uses,
  and :data:`OPSET`.

Importing this package imports none of torch, onnx or onnxruntime: each name below loads its
module on first use.
"""

__all__ = ["OPSET", "GraphBuilder", "to_onnx"]


def __getattr__(name: str):
    if name == "to_onnx":
        from rnnkit.export.writer import to_onnx

        return to_onnx
    if name in ("OPSET", "GraphBuilder"):
        from rnnkit.export import graph

        return getattr(graph, name)
    raise AttributeError(f"module 'rnnkit.export' has no attribute {name!r}")

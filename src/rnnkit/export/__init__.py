"""rnnkit.export: ONNX graphs of a trained model's pipeline and the export directory.

:func:`to_onnx` (needs torch and onnx) writes an export directory; its layout and the graphs'
inputs and outputs are :mod:`rnnkit.export.manifest`'s, which imports neither.
"""

__all__ = ["to_onnx"]


def __getattr__(name: str):
    """``to_onnx`` imports torch and onnx on first use, so reading a manifest stays light."""
    if name == "to_onnx":
        from rnnkit.export.writer import to_onnx

        return to_onnx
    raise AttributeError(f"module 'rnnkit.export' has no attribute {name!r}")

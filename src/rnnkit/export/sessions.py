"""onnxruntime sessions over an export directory's graphs (CPUExecutionProvider), and the
check that a graph fits the copied config.json. onnxruntime is imported on first use: a
missing install is a :class:`~rnnkit.extras.MissingExtra` naming ``pip install
'rnnkit[onnx]'``."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from rnnkit.export.manifest import ExportDirectoryError, Manifest
from rnnkit.extras import require

PROVIDER = "CPUExecutionProvider"


class Graph:
    """One graph of an export on onnxruntime: ``run(**inputs)`` → a dict of output arrays."""

    def __init__(self, manifest: Manifest, role: str) -> None:
        onnxruntime = require("onnxruntime", "onnx", "running an exported model")
        self.path = manifest.graph_path(role)
        self.spec = manifest.graphs[role]
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(self.path), options,
                                                    providers=[PROVIDER])
        self.inputs = {item.name: item for item in self.session.get_inputs()}
        self.outputs = {item.name: item for item in self.session.get_outputs()}

    def run(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        feed = {name: value for name, value in inputs.items() if name in self.inputs}
        values = self.session.run(None, feed)
        return dict(zip(self.outputs, values))

    def dimension(self, tensor: str, axis: int) -> int | None:
        """The fixed size of ``axis`` of an input or output (None when dynamic or absent)."""
        item = self.inputs.get(tensor) or self.outputs.get(tensor)
        if item is None or len(item.shape) <= abs(axis):
            return None
        size = item.shape[axis]
        return size if isinstance(size, int) else None

    def expect(self, tensor: str, axis: int, value: int, what: str, source: str) -> None:
        """Refuse a graph whose ``tensor`` has a fixed ``axis`` other than ``value`` (what
        ``source`` says ``what`` is)."""
        size = self.dimension(tensor, axis)
        if size is not None and size != value:
            raise ExportDirectoryError(
                f"{self.path} does not match {source}: {what} is {value} there but the graph's "
                f"{tensor} has {size}; re-export the model directory")

    @cached_property
    def parameter_count(self) -> int | None:
        """The weights stored in the graph (its initializers), counted with the ``onnx``
        package; None without it (onnxruntime does not tell)."""
        try:
            import onnx
        except ImportError:
            return None
        model = onnx.load(str(self.path))
        return sum(int(np.prod(tensor.dims)) for tensor in model.graph.initializer)

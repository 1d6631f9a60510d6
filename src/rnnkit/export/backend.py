"""What every onnxruntime backend of a pipeline shares: where it runs, how many weights its
graphs hold, and no PyTorch model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rnnkit.export.sessions import Graph

DEVICE = "cpu (onnxruntime)"


class ExportBackend:
    """What every onnxruntime backend shares: where it runs, its weights, no torch model."""

    device = DEVICE

    def __init__(self, graphs: Sequence[Graph]) -> None:
        self.graphs = list(graphs)

    @property
    def parameter_count(self) -> int | None:
        """The graphs' weights; None when the ``onnx`` package that counts them is absent."""
        counts = [graph.parameter_count for graph in self.graphs]
        return None if None in counts else sum(counts)

    @property
    def model(self) -> Any:
        raise AttributeError("an export directory's pipeline runs ONNX graphs on onnxruntime "
                             "and has no PyTorch model; load the source model directory for it")

"""The pipeline base class and the backend it computes with, torch-free.

A pipeline keeps everything about text (tokenizing, encoding, batching and padding in numpy,
decoding ids, reports) and hands the numbers to its backend: :class:`ModelBackend` wraps a
PyTorch module (each task's torch backend subclasses it), and :mod:`rnnkit.export`'s
backends run exported ONNX graphs on onnxruntime. Neither this module nor the task pipelines
import torch, so an export directory loads and runs without it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar


class ModelBackend:
    """A PyTorch module as a pipeline's backend (the module is used, torch is not imported
    here): where it runs and how many weights it has."""

    def __init__(self, model: Any) -> None:
        self.model = model

    @property
    def device(self) -> Any:
        """The ``torch.device`` of the model's weights."""
        return next(self.model.parameters()).device

    @property
    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.model.parameters())


class Pipeline(ABC):
    """A trained model ready to use: it takes a string or a list, batches internally, runs
    its backend without gradients and keeps no per-call state, so several threads may call
    one pipeline at once.

    Give ``model`` (a torch module, wrapped in a :class:`ModelBackend`: what a task that
    defines no backend of its own passes) or ``backend`` (a task's backend, torch or
    onnxruntime).
    """

    task: ClassVar[str]

    def __init__(self, directory: Path, config: dict[str, Any], model: Any = None, *,
                 backend: Any = None) -> None:
        if (model is None) == (backend is None):
            raise TypeError(f"{type(self).__name__}: give a model or a backend, not "
                            f"{'both' if model is not None else 'neither'}")
        self.directory = directory
        self.config = config
        self.backend = ModelBackend(model) if backend is None else backend

    @property
    def model(self) -> Any:
        """The PyTorch module behind the pipeline (an export directory's pipeline has none:
        its backend says so)."""
        return self.backend.model

    @property
    def device(self) -> Any:
        """Where the model runs: a ``torch.device``, or the onnxruntime provider's name."""
        return self.backend.device

    @abstractmethod
    def evaluate(self, path: str | Path, **options: Any) -> dict[str, Any]:
        """The task's metrics on a file in its training data's format."""

    @property
    def parameter_count(self) -> int | None:
        """The number of weights of the model (of every member, for an ensemble); None where
        the backend cannot count them (an export without the ``onnx`` package)."""
        return self.backend.parameter_count

    @property
    def vocabulary_sizes(self) -> dict[str, int]:
        """The size of each vocabulary the model reads or writes, by its role (``words``,
        ``source`` …); empty for a pipeline that keeps none."""
        return {}

    def __repr__(self) -> str:
        count = self.parameter_count
        shown = "unknown" if count is None else f"{count:,}"
        return (f"{type(self).__name__}(task={self.task!r}, directory='{self.directory}', "
                f"parameters={shown}, device='{self.device}')")

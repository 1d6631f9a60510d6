"""``rnnkit.load``: an export directory (``export.json``) loads its pipeline on onnxruntime
before anything imports torch; any other directory goes to the task registry
(:func:`rnnkit.tasks.contract.load`), which imports torch and the tasks. This is the one
place that tells the two apart: the faces (CLI, server) load through it, and
:mod:`rnnkit.tasks`, which :mod:`rnnkit.export` builds on, knows nothing of exports."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnkit.export.manifest import is_export_directory


def load(path: str | Path | Sequence[str | Path], device: Any = None) -> Any:
    """The pipeline of a trained model directory or an export directory, for whatever task
    it holds; a list of classifier directories is an ensemble.

    >>> pipeline = rnnkit.load("runs/demo")              # doctest: +SKIP
    >>> pipeline.generate("ROMEO:", max_tokens=50)       # doctest: +SKIP
    """
    paths = [path] if isinstance(path, str | Path) else list(path)
    if any(is_export_directory(item) for item in paths):
        from rnnkit.export.runtime import load_export

        return load_export(path, device)
    from rnnkit.tasks.contract import load as load_model_directory

    return load_model_directory(path, device)

"""A model directory's names, its ``config.json`` reader and its error: the torch-free part
of :mod:`rnnkit.train.model_dir`, which the ONNX runtime path reads directories with."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rnnkit import __version__
from rnnkit.text import atomic_path

FORMAT = "rnnkit.model"
VERSION = 1
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "trainer_state.safetensors"
METRICS_FILE = "metrics.jsonl"
LOSS_PLOT = "loss.png"
MODEL_FILES = frozenset({CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE, STATE_FILE, METRICS_FILE,
                         LOSS_PLOT})
"""The names a model directory of any task holds; a task adds its own (``Task.outputs``)."""


class ModelDirectoryError(ValueError):
    """A model directory that is missing, incomplete or corrupt."""


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as pretty UTF-8 JSON, atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")


def read_config(directory: str | os.PathLike, task: str | None = None) -> dict[str, Any]:
    """Read and check ``config.json``; ``task`` (if given) must match the directory's task."""
    directory = require_files(directory, CONFIG_FILE)
    path = directory / CONFIG_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelDirectoryError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelDirectoryError(f"{path} is not an rnnkit model configuration")
    _check_version(path, data.get("version"))
    if task is not None and data.get("task") != task:
        raise ModelDirectoryError(
            f"{directory} holds a {data.get('task')!r} model, expected a {task!r} model"
        )
    return data


def _check_version(path: Path, version: Any) -> None:
    """A config's format version must be an int this rnnkit reads (1 … :data:`VERSION`)."""
    if version is None:
        raise ModelDirectoryError(f"{path} has no format version ('version'); expected an "
                                  f"integer from 1 to {VERSION}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelDirectoryError(f"{path}: 'version' must be an integer from 1 to {VERSION}, "
                                  f"got {json.dumps(version)}")
    if version > VERSION:
        raise ModelDirectoryError(f"{path} has format version {version}, written by a newer "
                                  f"rnnkit; this rnnkit {__version__} reads versions up to "
                                  f"{VERSION}: upgrade rnnkit to load it")


def require_files(directory: str | os.PathLike, *names: str) -> Path:
    """The directory as a Path, after checking that it and the named files exist."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelDirectoryError(f"model directory {directory} does not exist")
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise ModelDirectoryError(
            f"model directory {directory} is missing {', '.join(missing)}; "
            "was training interrupted before the first checkpoint, or is it an ONNX export "
            "(which only rnnkit.load and the commands that predict read)?"
        )
    return directory

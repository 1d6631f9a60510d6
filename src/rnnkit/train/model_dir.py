"""Model directories: ``config.json``, ``vocab.json``, ``model.safetensors`` and friends.

Every file is written atomically (a temporary file beside it, then a rename), so a crash
mid-write never leaves a directory that fails to load. Weights are safetensors only: a pickle
offered as weights is refused without being unpickled (unpickling can run arbitrary code).
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

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


def write_config(directory: Path, task: str, sections: dict[str, Any]) -> None:
    """``config.json``: the task, its sections (model, data, train, …) and the versions."""
    data = {
        "format": FORMAT,
        "version": VERSION,
        "task": task,
        **sections,
        "versions": {"rnnkit": __version__, "torch": torch.__version__},
    }
    write_json(directory / CONFIG_FILE, data)


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
            "was training interrupted before the first checkpoint?"
        )
    return directory


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None):
    """Save tensors (contiguous, unshared copies) to a safetensors file, atomically."""
    tensors = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in tensors.items()}
    with atomic_path(path) as temporary:
        try:
            save_file(tensors, str(temporary), metadata=metadata)
        except SafetensorError as error:  # its I/O errors say "(os error 28)" and are no OSError
            code = re.search(r"os error (\d+)", str(error))
            if code is None:
                raise OSError(errno.EIO, str(error)) from error
            raise OSError(int(code.group(1)), os.strerror(int(code.group(1)))) from error


def _sniff_pickle(path: Path) -> str | None:
    head = path.read_bytes()[:4]
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    if head[:2] == b"PK":
        return "a zip archive (torch.save's format, which holds a pickle)"
    return None


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file; refuse pickles and name corrupt or truncated files."""
    if not path.is_file():
        raise ModelDirectoryError(f"{path} does not exist")
    kind = _sniff_pickle(path)
    if kind is not None:
        raise ModelDirectoryError(
            f"{path} is {kind}, not safetensors; rnnkit never unpickles weights "
            "(unpickling can run arbitrary code)"
        )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelDirectoryError(f"{path} is corrupt or truncated: {error}") from None


def load_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a safetensors file."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelDirectoryError(f"{path} is corrupt or truncated: {error}") from None


def save_weights(directory: Path, module: torch.nn.Module) -> None:
    """``model.safetensors`` from the module's state dict (tied weights stored once each name)."""
    save_tensors(directory / WEIGHTS_FILE, dict(module.state_dict()))


def load_weights(directory: Path, module: torch.nn.Module) -> None:
    """Load ``model.safetensors`` into ``module``; every name must match."""
    tensors = load_tensors(directory / WEIGHTS_FILE)
    try:
        module.load_state_dict(tensors)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise ModelDirectoryError(
            f"{directory / WEIGHTS_FILE} does not fit the model in config.json: {first}"
        ) from None

"""Model directories: ``config.json``, ``vocab.json``, ``model.safetensors`` and friends.

Every file is written atomically (a temporary file beside it, then a rename), so a crash
mid-write never leaves a directory that fails to load. Weights are safetensors only: a pickle
offered as weights is refused without being unpickled (unpickling can run arbitrary code).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from rnnkit import __version__
from rnnkit.text import atomic_path
from rnnkit.train.directory import (  # the torch-free names, kept importable from here
    CONFIG_FILE,
    FORMAT,
    LOSS_PLOT,
    METRICS_FILE,
    MODEL_FILES,
    STATE_FILE,
    VERSION,
    VOCAB_FILE,
    WEIGHTS_FILE,
    ModelDirectoryError,
    read_config,
    require_files,
    write_json,
)

__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "LOSS_PLOT",
    "METRICS_FILE",
    "MODEL_FILES",
    "STATE_FILE",
    "VERSION",
    "VOCAB_FILE",
    "WEIGHTS_FILE",
    "ModelDirectoryError",
    "load_metadata",
    "load_tensors",
    "load_weights",
    "read_config",
    "require_files",
    "save_tensors",
    "save_weights",
    "write_config",
    "write_json",
]


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

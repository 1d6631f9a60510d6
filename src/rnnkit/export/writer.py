"""Write an export directory (:mod:`rnnkit.export.manifest`) from a trained model.

The directory is assembled in a temporary sibling and renamed into place at the end, so a
failure at any point (a refused layer option, a full disk, Ctrl-C) leaves nothing behind, and
an export replaced with ``force`` is never seen half-written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from torch import nn

from rnnkit import __version__
from rnnkit.export.classifier import classifier_graphs
from rnnkit.export.graph import OPSET
from rnnkit.export.language_model import language_model_graphs
from rnnkit.export.manifest import (
    CONFIG_FILE,
    CRF_FILE,
    ROLES,
    Manifest,
    is_export_directory,
    read_manifest,
    write_manifest,
)
from rnnkit.export.ops import TaskGraph
from rnnkit.export.tagger import crf_arrays, tagger_graphs
from rnnkit.export.translator import translator_graphs
from rnnkit.models import Classifier, LanguageModel, Seq2Seq, Tagger
from rnnkit.tasks.contract import Pipeline, get_task
from rnnkit.train.model_dir import write_config

GRAPHS: dict[str, tuple[type[nn.Module], Callable[[Any], dict[str, TaskGraph]]]] = {
    "lm": (LanguageModel, language_model_graphs),
    "classify": (Classifier, classifier_graphs),
    "tag": (Tagger, tagger_graphs),
    "translate": (Seq2Seq, translator_graphs),
}
"""Each exportable task (config.json's name): its model class and its graph writer."""


def to_onnx(source: Pipeline | nn.Module | str | os.PathLike, path: str | os.PathLike, *,
            force: bool = False) -> Manifest:
    """Export ``source`` — a pipeline, a model directory, or a task model — to the export
    directory ``path``; returns its manifest.

    A pipeline or directory brings its config.json and vocabularies along, so
    ``rnnkit.load(path)`` makes the same pipeline; a bare model gets a config.json with its
    model section only. An existing ``path`` is refused unless ``force``, and even then only
    an export directory (or an empty directory) is replaced.
    """
    out = Path(path)
    _check_target(out, force)
    model, task, directory, config = _resolve(source)
    if directory is not None and _is_within(out, directory):
        raise ValueError(f"export: --out {out} is inside the model directory {directory}; "
                         "choose a path outside it")
    graphs = GRAPHS[task][1](model)
    with _staging(out) as staging:
        files = _write_files(staging, task, model, directory, config)
        for graph in graphs.values():
            onnx.save(graph.model, staging / graph.spec.file)
        arrays = {}
        crf = crf_arrays(model) if task == "tag" else None
        if crf is not None:
            np.savez(staging / CRF_FILE, **crf)
            arrays["crf"] = CRF_FILE
        write_manifest(staging, Manifest(
            directory=staging, task=task, opset=OPSET, rnnkit_version=__version__,
            source="" if directory is None else str(directory.resolve()),
            model=model.config.to_dict(), files=tuple(files),
            graphs={role: graphs[role].spec for role in ROLES[task]}, arrays=arrays))
        read_manifest(staging)  # what the runtime will check, checked before it is in place
    return read_manifest(out)


def _check_target(out: Path, force: bool) -> None:
    if not out.exists():
        if not out.parent.is_dir():
            raise FileNotFoundError(f"export: the parent of --out {out} does not exist")
        return
    if not force:
        raise FileExistsError(f"export: {out} already exists; pass --force (force=True) to "
                              "replace it")
    if not out.is_dir() or not (is_export_directory(out) or not any(out.iterdir())):
        raise FileExistsError(f"export: {out} exists and is not an export directory; --force "
                              "replaces only an earlier export (or an empty directory)")


def _resolve(source: Any) -> tuple[nn.Module, str, Path | None, dict[str, Any] | None]:
    """The model, its task name, its directory and config (None for a bare model)."""
    if isinstance(source, str | os.PathLike):
        from rnnkit.tasks import load

        _refuse_export_directory(Path(source))
        source = load(source)
    if isinstance(source, Pipeline):
        _refuse_export_directory(Path(source.directory))
        members = getattr(source, "members", None)
        if members is not None and len(members) > 1:
            raise ValueError(f"export: an ensemble of {len(members)} classifiers is not "
                             "exported as one; export each model directory")
        if source.task not in GRAPHS:
            raise ValueError(f"export: {source.task!r} models have no ONNX export; exportable "
                             f"tasks: {', '.join(GRAPHS)}")
        return source.model, source.task, Path(source.directory), source.config
    for task, (model_class, _) in GRAPHS.items():
        if isinstance(source, model_class):
            return source, task, None, None
    raise TypeError(f"export: expected a pipeline, a model directory or one of "
                    f"{', '.join(model.__name__ for model, _ in GRAPHS.values())}, got "
                    f"{type(source).__name__}")


def _refuse_export_directory(directory: Path) -> None:
    if is_export_directory(directory):
        raise ValueError(f"export: {directory} is an export directory already; export the "
                         "trained model directory it came from")


def _is_within(path: Path, directory: Path) -> bool:
    path, directory = path.resolve(), directory.resolve()
    return path == directory or directory in path.parents


def _write_files(staging: Path, task: str, model: nn.Module, directory: Path | None,
                 config: dict[str, Any] | None) -> list[str]:
    """Copy config.json and the task's vocabularies (or write a bare model's config.json);
    the names written."""
    if directory is None:
        write_config(staging, task, {"model": model.config.to_dict()})
        return [CONFIG_FILE]
    names = [CONFIG_FILE, *get_task(task).files]
    for name in names:
        shutil.copyfile(directory / name, staging / name)
    return names


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A temporary directory beside ``out`` that replaces it on success, else vanishes."""
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        if not out.exists():
            os.replace(staging, out)
            return
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
        os.replace(out, old / out.name)
        try:
            os.replace(staging, out)
        except BaseException:
            os.replace(old / out.name, out)  # the earlier export stays where it was
            raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

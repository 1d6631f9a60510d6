""":func:`load_export`, which :func:`rnnkit.load` calls for a directory with ``export.json``:
the task's pipeline over its onnxruntime backend (``runtime_lm``, ``runtime_classifier``,
``runtime_tagger``, ``runtime_translator``).

The pipelines are the task's own (:mod:`rnnkit.tasks.lm_pipeline` …): only the numbers come
from onnxruntime here, so text handling, batching and metrics are the torch path's. Nothing
here imports torch. Loading checks config.json and the vocabularies against the graphs'
fixed sizes and refuses a mismatch naming the file and the two values.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from pathlib import Path

from rnnkit.export.manifest import read_manifest
from rnnkit.export.runtime_classifier import load_classifier_member
from rnnkit.tasks.classifier_pipeline import ClassifierPipeline
from rnnkit.tasks.pipeline import Pipeline
from rnnkit.train.directory import read_config

LOADERS = {"lm": ("runtime_lm", "load_language_model"),
           "tag": ("runtime_tagger", "load_tagger"),
           "translate": ("runtime_translator", "load_translator")}
"""The loader of each task but classification (whose members may form an ensemble), by module
and name: only the asked task's module is imported."""


def load_export(path: str | Path | Sequence[str | Path], device: str | None = None
                ) -> Pipeline:
    """The task's pipeline over the export directory ``path`` on onnxruntime (a list of
    classifier export directories is an ensemble). ``device`` must be cpu (or None)."""
    if device is not None and str(device) != "cpu":
        raise ValueError(f"device {str(device)!r}: an export directory runs on onnxruntime's "
                         "CPU provider; use device='cpu' or load the source model directory")
    paths = [path] if isinstance(path, str | Path) else list(path)
    if not paths:
        raise ValueError("load: expected an export directory or a list of them, got an empty "
                         "list")
    manifests = [read_manifest(item) for item in paths]
    configs = [read_config(manifest.directory, manifest.task) for manifest in manifests]
    if len(manifests) > 1:
        if any(manifest.task != "classify" for manifest in manifests):
            found = ", ".join(f"{m.directory}: {m.task}" for m in manifests)
            raise ValueError(f"load: several export directories form an ensemble of "
                             f"classifiers only; got {found}")
        members = [load_classifier_member(m, c) for m, c in zip(manifests, configs)]
        return ClassifierPipeline(members, configs[0])
    manifest, config = manifests[0], configs[0]
    if manifest.task == "classify":
        return ClassifierPipeline([load_classifier_member(manifest, config)], config)
    module, loader = LOADERS[manifest.task]
    return getattr(import_module(f"rnnkit.export.{module}"), loader)(manifest, config)

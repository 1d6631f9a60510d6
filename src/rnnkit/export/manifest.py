"""The export directory: what ``rnnkit export`` writes and what the onnxruntime path reads.

This module is the contract between the writer (:mod:`rnnkit.export.writer`, which needs torch
and onnx) and the runtime (which needs neither): it imports only json, pathlib and numpy.

Layout of an export directory::

    export.json          the manifest (below)
    config.json          the source model directory's config.json, copied unchanged
    vocab.json …         the task's vocabularies, copied unchanged (``Task.files``)
    <role>.onnx          one ONNX graph per role of the task
    crf.npz              a tagger with a CRF only: its transition scores

``export.json``::

    {"format": "rnnkit.onnx", "version": 1, "task": "lm", "opset": 20,
     "rnnkit_version": "0.1.0", "source": "/abs/path/of/the/model/directory",
     "model": {... the model's full configuration, defaults included ...},
     "files": ["config.json", "vocab.json"],
     "graphs": {"step": {"file": "step.onnx",
                         "inputs": [{"name": "ids", "dtype": "int64",
                                     "shape": ["batch", "time"]}, ...],
                         "outputs": [...]}, ...},
     "arrays": {"crf": "crf.npz"}}

A shape entry is an int (a fixed size) or a string (a dynamic axis: ``batch``, ``time``,
``source_time``, ``width``). ``model`` lets a reader check that ``config.json`` is the one the
graphs were made from: every key of config.json's ``model`` section must hold the same value
there (keys it leaves out took their defaults when the model was exported).

Graphs by task (``B`` batch, ``T`` time, ``S`` source steps, ``W`` characters or subword ids
per token, ``L`` layers, ``D`` directions, ``H`` hidden size, ``H_out`` the size of ``h``
(an LSTM's projection size when it projects), ``V`` vocabulary, ``C`` classes or tags, ``M``
an encoder's ``D*H``). Ids are int64, lengths int64 and ≥ 1, floats float32. Every graph
computes the eval-mode forward (no dropout).

``lm`` (language model):

- ``step``: ``ids (B, T)``, ``h (L, B, H_out)``, ``c (L, B, H)`` → ``logits (B, T, V)``,
  ``h_out (L, B, H_out)``, ``c_out (L, B, H)``. Every row runs all ``T`` steps (generation
  feeds the prompt at once, then one token per call). ``c``/``c_out`` exist only for LSTMs.
- ``score``: ``ids (B, T)``, ``targets (B, T)``, ``lengths (B,)``, ``h``, ``c`` →
  ``log_probs (B, T)`` = ``log p(targets[b, t] | ids[b, ..t])``, exactly 0 at ``t ≥
  lengths[b]``, and ``h_out``, ``c_out``: the state after each row's last valid token (what a
  stream-mode evaluation carries into the next window). ``targets`` past a row's length may
  hold any id in ``[0, V)`` (pad with 0). The mean loss of ``LanguageModelPipeline.score`` and
  ``evaluate`` is ``-sum(log_probs) / sum(lengths)``.

``classify`` (classifier):

- ``classifier``: ``ids (B, T)`` padded with 0, ``lengths (B,)``, and ``subwords (B, T, W)``
  (each token's n-gram bucket ids, 0-padded, ``config.subword_hasher()``) only when the model
  has subword features → ``probabilities (B, C)`` (softmax of the logits).

``tag`` (tagger):

- ``tagger``: ``ids (B, T)``, ``lengths (B,)``, and ``chars (B, T, W)`` (character ids per
  word, 0-padded) only when the model has a character encoder → ``emissions (B, T, C)``.
  A CRF tagger's transition scores are in ``crf.npz`` (arrays ``transitions (C, C)``, row the
  previous tag; ``start (C,)``; ``end (C,)``; forbidden moves already set to the CRF's
  ``FORBIDDEN`` score), and the runtime decodes with Viterbi in numpy: it is short, exact,
  O(T·C²) per sentence, and the backtracking it needs is awkward to express as ONNX Loop
  bodies. A softmax tagger's tags are the per-step argmax of ``emissions``
  (:attr:`Manifest.decoder` says which: ``viterbi`` or ``argmax``).

``translate`` (sequence to sequence with attention, input feeding):

- ``encoder``: ``source (B, S)`` padded with 0, ``lengths (B,)`` → ``memory (B, S, M)``
  (zero past each length), ``h (B, H)``, ``c (B, H)``, ``feed (B, H)`` (zeros): the first
  decoder state of ``Seq2Seq.encode``.
- ``decoder_step``: ``previous (B,)`` token ids, ``h``, ``c``, ``feed``, ``memory (B, S, M)``,
  ``lengths (B,)`` (the source lengths; padding gets no attention) → ``log_probs (B, V)``
  (log-softmax of ``Seq2Seq.step``'s logits), ``h_out``, ``c_out``, ``feed_out`` (each
  ``(B, H)``) and ``attention (B, S)``. Greedy decoding is the argmax of ``log_probs``, beam
  search ranks by it, as ``Seq2Seq.greedy`` and ``beam_search`` do; ``pad_id``, ``bos_id`` and
  ``eos_id`` are config.json's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "rnnkit.onnx"
VERSION = 1
MANIFEST_FILE = "export.json"
CONFIG_FILE = "config.json"
CRF_FILE = "crf.npz"
CRF_ARRAYS = ("transitions", "start", "end")

ROLES: dict[str, tuple[str, ...]] = {
    "lm": ("step", "score"),
    "classify": ("classifier",),
    "tag": ("tagger",),
    "translate": ("encoder", "decoder_step"),
}
"""The graphs of each task's export, by role (the task names are config.json's)."""

DTYPES = ("int64", "float32", "bool")
DECODERS = ("viterbi", "argmax")


class ExportDirectoryError(ValueError):
    """An export directory that is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: its name, dtype and shape (ints fixed, strings dynamic)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class GraphSpec:
    """One ONNX file of an export and its inputs and outputs, in graph order."""

    file: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    def output_names(self) -> list[str]:
        return [spec.name for spec in self.outputs]

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "inputs": [spec.to_dict() for spec in self.inputs],
                "outputs": [spec.to_dict() for spec in self.outputs]}


@dataclass(frozen=True)
class Manifest:
    """A read and checked ``export.json``; paths are inside :attr:`directory`."""

    directory: Path
    task: str
    opset: int
    rnnkit_version: str
    source: str
    model: dict[str, Any]
    files: tuple[str, ...]
    graphs: dict[str, GraphSpec]
    arrays: dict[str, str]

    def graph_path(self, role: str) -> Path:
        """The ONNX file of ``role`` (one of ``ROLES[task]``)."""
        if role not in self.graphs:
            raise ValueError(f"Manifest: role must be one of {sorted(self.graphs)} for a "
                             f"{self.task!r} export, got {role!r}")
        return self.directory / self.graphs[role].file

    @property
    def decoder(self) -> str | None:
        """A tagger's decoding: ``viterbi`` (with ``crf.npz``) or ``argmax``; else None."""
        if self.task != "tag":
            return None
        return "viterbi" if "crf" in self.arrays else "argmax"

    def crf(self) -> dict[str, np.ndarray]:
        """A CRF tagger's ``transitions (C, C)``, ``start (C,)``, ``end (C,)`` as float32."""
        if "crf" not in self.arrays:
            raise ExportDirectoryError(f"{self.directory} holds no CRF transition scores")
        path = self.directory / self.arrays["crf"]
        try:
            with np.load(path, allow_pickle=False) as arrays:
                crf = {name: np.asarray(arrays[name], dtype=np.float32) for name in CRF_ARRAYS}
        except (OSError, ValueError, KeyError) as error:
            raise ExportDirectoryError(f"{path} is not a CRF array file with "
                                       f"{', '.join(CRF_ARRAYS)}: {error}") from None
        size = crf["start"].shape
        if crf["transitions"].shape != size * 2 or crf["end"].shape != size or len(size) != 1:
            raise ExportDirectoryError(f"{path}: expected transitions (C, C), start (C,) and end "
                                       f"(C,), got {[crf[n].shape for n in CRF_ARRAYS]}")
        return crf

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "task": self.task, "opset": self.opset,
                "rnnkit_version": self.rnnkit_version, "source": self.source,
                "model": self.model, "files": list(self.files),
                "graphs": {role: spec.to_dict() for role, spec in self.graphs.items()},
                "arrays": dict(self.arrays)}


def is_export_directory(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory with an ``export.json`` (checked by :func:`read_manifest`)."""
    return (Path(path) / MANIFEST_FILE).is_file()


def read_manifest(directory: str | os.PathLike) -> Manifest:
    """Read ``export.json`` and check it, the files it names and config.json against it.

    Raises :class:`ExportDirectoryError` naming the file and what is wrong.
    """
    directory = Path(directory)
    path = directory / MANIFEST_FILE
    if not directory.is_dir():
        raise ExportDirectoryError(f"export directory {directory} does not exist")
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ExportDirectoryError(f"{path} is not an rnnkit ONNX export manifest "
                                   f"(format {FORMAT!r})")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= VERSION:
        raise ExportDirectoryError(f"{path}: 'version' must be an integer from 1 to {VERSION}, "
                                   f"got {json.dumps(version)}")
    task = data.get("task")
    if task not in ROLES:
        raise ExportDirectoryError(f"{path}: task must be one of {sorted(ROLES)}, got "
                                   f"{json.dumps(task)}")
    manifest = Manifest(
        directory=directory, task=task, opset=_field(path, data, "opset", int),
        rnnkit_version=_field(path, data, "rnnkit_version", str),
        source=_field(path, data, "source", str), model=_field(path, data, "model", dict),
        files=tuple(_field(path, data, "files", list)),
        graphs=_graphs(path, task, _field(path, data, "graphs", dict)),
        arrays=_field(path, data, "arrays", dict))
    _check_files(manifest)
    _check_config(manifest)
    return manifest


def write_manifest(directory: str | os.PathLike, manifest: Manifest) -> None:
    """``export.json`` of ``manifest`` in ``directory`` (the writer makes the directory atomic)."""
    text = json.dumps(manifest.to_dict(), ensure_ascii=False, indent=2) + "\n"
    (Path(directory) / MANIFEST_FILE).write_text(text, "utf-8")


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ExportDirectoryError(f"{path.parent} is not an export directory: no {path.name}")
    try:
        return json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportDirectoryError(f"{path} is not valid JSON: {error}") from None


def _field(path: Path, data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ExportDirectoryError(f"{path}: {key!r} must be a {kind.__name__}, got "
                                   f"{json.dumps(value)}")
    return value


def _graphs(path: Path, task: str, graphs: dict[str, Any]) -> dict[str, GraphSpec]:
    if sorted(graphs) != sorted(ROLES[task]):
        raise ExportDirectoryError(f"{path}: a {task!r} export has the graphs "
                                   f"{list(ROLES[task])}, got {sorted(graphs)}")
    specs = {}
    for role in ROLES[task]:
        entry = graphs[role]
        where = f"{path}: graph {role!r}"
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise ExportDirectoryError(f"{where} must name its 'file'")
        specs[role] = GraphSpec(entry["file"], _tensors(where, entry.get("inputs")),
                                _tensors(where, entry.get("outputs")))
    return specs


def _tensors(where: str, entries: Any) -> tuple[TensorSpec, ...]:
    if not isinstance(entries, list) or not entries:
        raise ExportDirectoryError(f"{where}: inputs and outputs must be non-empty lists, got "
                                   f"{json.dumps(entries)}")
    specs = []
    for entry in entries:
        ok = (isinstance(entry, dict) and isinstance(entry.get("name"), str)
              and entry.get("dtype") in DTYPES and isinstance(entry.get("shape"), list)
              and all(isinstance(size, str) or (isinstance(size, int) and
                                                not isinstance(size, bool) and size >= 0)
                      for size in entry["shape"]))
        if not ok:
            raise ExportDirectoryError(f"{where}: a tensor must have a name, a dtype in {DTYPES} "
                                       f"and a shape of ints and axis names, got "
                                       f"{json.dumps(entry)}")
        specs.append(TensorSpec(entry["name"], entry["dtype"], tuple(entry["shape"])))
    return tuple(specs)


def _check_files(manifest: Manifest) -> None:
    names = [*manifest.files, *(spec.file for spec in manifest.graphs.values()),
             *manifest.arrays.values()]
    for name in names:
        if not isinstance(name, str) or Path(name).name != name:
            raise ExportDirectoryError(f"{manifest.directory / MANIFEST_FILE}: file names must be "
                                       f"plain names inside the directory, got {name!r}")
    missing = [name for name in names if not (manifest.directory / name).is_file()]
    if missing:
        raise ExportDirectoryError(f"export directory {manifest.directory} is missing "
                                   f"{', '.join(missing)}")
    if CONFIG_FILE not in manifest.files:
        raise ExportDirectoryError(f"{manifest.directory / MANIFEST_FILE}: 'files' must list "
                                   f"{CONFIG_FILE}")


def _check_config(manifest: Manifest) -> None:
    """config.json must be the one the graphs were made from: same task, and every value of
    its ``model`` section equal to the manifest's."""
    path = manifest.directory / CONFIG_FILE
    config = _read_json(path)
    if not isinstance(config, dict) or config.get("task") != manifest.task:
        found = config.get("task") if isinstance(config, dict) else None
        raise ExportDirectoryError(f"{path} holds a {found!r} model but the graphs of "
                                   f"{MANIFEST_FILE} are a {manifest.task!r} model's")
    model = config.get("model")
    if not isinstance(model, dict):
        raise ExportDirectoryError(f"{path} is incomplete: no model section")
    differing = [key for key, value in model.items()
                 if key not in manifest.model or manifest.model[key] != value]
    if differing:
        key = differing[0]
        raise ExportDirectoryError(
            f"{path} does not match the exported graphs: model.{key} is "
            f"{json.dumps(model[key])} there but {json.dumps(manifest.model.get(key))} in the "
            f"graphs ({MANIFEST_FILE}); re-export the model directory")

"""The task contract, the registry of tasks, and :func:`load`.

A task (language model, classifier, tagger, translator, or one a user defines) is a
:class:`Task`: it builds its model from a config, trains and resumes runs into a model
directory, loads one as a :class:`Pipeline`, and declares its command-line arguments.
:func:`register` files it under the name ``config.json`` stores, and everything that reads a
model directory — :func:`load`, ``rnnkit train|evaluate|predict`` — finds the task there.

The lifecycle every task shares is written once here: :meth:`Task.train` (write the
directory, build the trainer, fit, finish), :meth:`Task.resume` and :meth:`Task.load`; a task
fills in the steps that differ (:meth:`Task.prepare`, :meth:`Task.training`,
:meth:`Task.build_model`, :meth:`Task.pipeline`).

Under ``torchrun`` the same calls run in every process: the first one prepares and writes the
directory while the others wait, then all train together (:mod:`rnnkit.train.distributed`),
and the first one finishes.

A :class:`Pipeline` (:mod:`rnnkit.tasks.pipeline`) holds the text side of a task and computes
through a backend: the task's torch module here, or an export directory's ONNX graphs on
onnxruntime (:mod:`rnnkit.export.runtime`, which builds on this package; :func:`rnnkit.load`
chooses between the two). The pipelines and their text side import without torch; this module
and the task modules (training, the torch backends) import it.
"""

from __future__ import annotations

import argparse
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from rnnkit.tasks.pipeline import Pipeline
from rnnkit.tasks.selection import SELECT_LOSS
from rnnkit.text import atomic_path
from rnnkit.train import TrainConfig, Trainer, TrainingTask, distributed
from rnnkit.train.model_dir import (
    CONFIG_FILE,
    METRICS_FILE,
    MODEL_FILES,
    WEIGHTS_FILE,
    ModelDirectoryError,
    load_weights,
    read_config,
    require_files,
    write_config,
)

RESUME_LIMITS = ("epochs", "max_steps", "max_minutes")
"""The stored settings a resumed run may change (to go on after a limit stopped it)."""

Callback = Callable[[Trainer, str, dict], None]


def resolve_device(device: str | torch.device | None, argument: str = "device"
                   ) -> torch.device:
    """``device`` (default CPU) as a torch.device this process can use; a malformed name or a
    CUDA device without CUDA is a ValueError naming ``argument``."""
    try:
        resolved = torch.device(device or "cpu")
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"{argument} {device!r} is not a device name (cpu, cuda, cuda:N): "
                         f"{error}") from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"{argument} {device!r}: rnnkit runs on cpu or cuda, not "
                         f"{resolved.type}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{argument} {device!r}: this torch ({torch.__version__}) sees no "
                             "CUDA device; use cpu")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"{argument} {device!r}: there are {torch.cuda.device_count()} "
                             "CUDA devices")
    return resolved


@dataclass(frozen=True)
class TrainingDefaults:
    """The trainer options whose command-line defaults differ by task."""

    epochs: int = 10
    optimizer: str = "adam"
    lr: float = 1e-3
    clip: float = 5.0


@dataclass
class Prepared:
    """What :meth:`Task.prepare` hands on: the ``config.json`` sections (model, data, …) and
    anything the trainer may reuse instead of reading it again (``reuse``)."""

    sections: dict[str, Any]
    reuse: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """What a task module provides; one instance per task, filed by :func:`register`."""

    name: ClassVar[str]
    """The task name ``config.json`` stores, and the ``rnnkit train NAME`` command."""
    summary: ClassVar[str]
    """One line for ``rnnkit train --help``."""
    description: ClassVar[str] = ""
    files: ClassVar[tuple[str, ...]] = ()
    """Files besides config.json and the weights that :meth:`load` needs."""
    outputs: ClassVar[tuple[str, ...]] = ()
    """Every name a run writes into its directory besides :data:`MODEL_FILES` (``files``
    included): what ``--overwrite`` may replace."""
    metric: ClassVar[str] = "loss"
    """The validation figure reported after training."""
    training_defaults: ClassVar[TrainingDefaults] = TrainingDefaults()
    predict_instead: ClassVar[str | None] = "this task's models are not offered to predict"
    """Why ``rnnkit predict`` refuses this task's models and what to use instead; None for
    tasks that implement :meth:`predict_lines`."""

    # -- training ------------------------------------------------------------------------

    @abstractmethod
    def prepare(self, data: Any, model_options: dict[str, Any], train: TrainConfig,
                out_dir: Path, *, quiet: bool, **options: Any) -> Prepared:
        """Read the data of a new run, write its vocabularies into ``out_dir`` and return its
        config sections (``quiet``: no progress bars). Fail here, before anything is
        written, on bad input; ``options`` are the task's own keywords of :meth:`train`."""

    @abstractmethod
    def training(self, out_dir: Path, config: dict[str, Any], *, quiet: bool, device: str,
                 seed: int, reuse: dict[str, Any]) -> TrainingTask:
        """The trainer's view of the run that ``out_dir`` (and its ``config``) describes:
        its data read and encoded (``seed``: the run's, for shuffling and sampling;
        ``reuse``: what :meth:`prepare` already read)."""

    def initial_model(self, config: dict[str, Any], reuse: dict[str, Any]) -> nn.Module:
        """The model a run starts from (seeded); :meth:`build_model` unless the task starts
        from something :meth:`prepare` read (pretrained vectors)."""
        return self.build_model(config)

    def build_trainer(self, out_dir: Path, config: dict[str, Any], *, quiet: bool,
                      callbacks: Sequence[Callback], device: str,
                      reuse: dict[str, Any]) -> Trainer:
        """The trainer of the run in ``out_dir``: its data (:meth:`training`), then its model
        drawn with the run's seed, keeping the weights of the best epoch by config.json's
        ``select`` (the validation loss by default)."""
        train_config = TrainConfig.from_dict(config["train"])
        task = self.training(out_dir, config, quiet=quiet, device=device,
                             seed=train_config.seed, reuse=reuse)
        torch.manual_seed(train_config.seed)
        model = self.initial_model(config, reuse).to(device)
        return Trainer(model, task, train_config, out_dir, quiet=quiet, callbacks=callbacks,
                       select=config.get("select", SELECT_LOSS))

    def finish(self, out_dir: Path, trainer: Trainer) -> None:
        """What a run writes once training ends (reports, plots); nothing by default."""

    def train(self, data: Any, model_options: dict[str, Any], train: TrainConfig,
              out_dir: str | Path, *, quiet: bool = False, callbacks: Sequence[Callback] = (),
              device: str = "cpu", **options: Any) -> Trainer:
        """A new run: write the model directory ``out_dir``, train, finish; the trainer.
        Under torchrun the first process prepares and writes; every process trains."""
        out_dir = Path(out_dir)
        device = str(distributed.process_device(device))
        with distributed.session(device):
            prepared = distributed.on_main(
                lambda: self._write_new_run(data, model_options, train, out_dir, quiet,
                                            options))
            config = self.check_config(out_dir, read_config(out_dir, self.name))
            reuse = prepared.reuse if prepared is not None else {}
            trainer = self.build_trainer(out_dir, config, quiet=quiet, callbacks=callbacks,
                                         device=device, reuse=reuse)
            trainer.fit()
            distributed.on_main(lambda: self.finish(out_dir, trainer))
        return trainer

    def _write_new_run(self, data: Any, model_options: dict[str, Any], train: TrainConfig,
                       out_dir: Path, quiet: bool, options: dict[str, Any]) -> Prepared:
        out_dir.mkdir(parents=True, exist_ok=True)
        prepared = self.prepare(data, model_options, train, out_dir, quiet=quiet, **options)
        write_config(out_dir, self.name, {**prepared.sections, "train": train.to_dict()})
        return prepared

    def resume(self, out_dir: str | Path, *, quiet: bool = False,
               callbacks: Sequence[Callback] = (), device: str = "cpu",
               limits: dict[str, Any] | None = None) -> Trainer:
        """Continue the interrupted run in ``out_dir`` exactly where it stopped. ``limits``
        may replace the stored stopping limits (:data:`RESUME_LIMITS`), e.g. to go on after
        a ``max_steps`` stop; nothing else can change."""
        out_dir = Path(out_dir)
        device = str(distributed.process_device(device))
        with distributed.session(device):
            config = self.check_config(out_dir, read_config(out_dir, self.name))
            if limits:
                unknown = sorted(set(limits) - set(RESUME_LIMITS))
                if unknown:
                    raise ValueError(f"resume: only {', '.join(RESUME_LIMITS)} can change, "
                                     f"got {unknown}")
                train = TrainConfig.from_dict({**config["train"], **limits})
                sections = {key: value for key, value in config.items()
                            if key not in ("format", "version", "task", "versions")}
                distributed.on_main(lambda: write_config(
                    out_dir, self.name, {**sections, "train": train.to_dict()}))
                config = {**config, "train": train.to_dict()}
            trainer = self.build_trainer(out_dir, config, quiet=quiet, callbacks=callbacks,
                                         device=device, reuse={})
            trainer.fit(resume=True)
            distributed.on_main(lambda: self.finish(out_dir, trainer))
        return trainer

    # -- using a trained model -----------------------------------------------------------

    required: ClassVar[tuple[tuple[str, str | None], ...]] = (
        ("model", None), ("data", None), ("train", None))
    """``(section, key)`` pairs a config.json of this task must hold (key None: the section)."""

    def check_config(self, directory: Path, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` after checking that it holds :attr:`required` (a
        :class:`ModelDirectoryError` names what is missing)."""
        for section, key in self.required:
            if not isinstance(config.get(section), dict) or (
                    key is not None and key not in config[section]):
                missing = section if key is None else f"{section}.{key}"
                raise ModelDirectoryError(f"{directory / CONFIG_FILE} is incomplete: no "
                                          f"{missing}")
        return config

    @abstractmethod
    def build_model(self, config: dict[str, Any]) -> nn.Module:
        """The task's model, as ``config.json`` describes it (untrained weights)."""

    @abstractmethod
    def pipeline(self, directory: Path, config: dict[str, Any], model: nn.Module) -> Pipeline:
        """The pipeline of a loaded directory (``model`` holds its weights, in eval mode)."""

    def load(self, directory: str | Path, device: str | torch.device | None = None
             ) -> Pipeline:
        """The pipeline of a model directory this task wrote, on ``device`` (default CPU)."""
        directory = require_files(directory, CONFIG_FILE, *self.files, WEIGHTS_FILE)
        config = self.check_config(directory, read_config(directory, self.name))
        model = self.build_model(config)
        load_weights(directory, model)
        model.eval().to(resolve_device(device))
        return self.pipeline(directory, config, model)

    def load_ensemble(self, directories: Sequence[str | Path],
                      device: str | torch.device | None = None) -> Pipeline:
        """One pipeline over several directories; only tasks that average models have one."""
        raise ValueError(f"several model directories form an ensemble, which {self.name!r} "
                         f"models do not; give one directory, got {len(directories)}")

    # -- the command line (``rnnkit train NAME``, ``evaluate``, ``predict``) --------------

    @abstractmethod
    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The data and model options of ``rnnkit train NAME`` (the trainer's own options,
        ``--out`` and ``--resume`` are every task's and added by the CLI)."""

    @abstractmethod
    def start(self, args: argparse.Namespace, train: TrainConfig) -> Trainer:
        """A new run from the parsed command line (``args.out``, ``args.quiet`` …)."""

    def needs_data(self, args: argparse.Namespace) -> bool:
        """Whether a new run from the command line needs ``--data`` (yes, unless a task
        has data of its own to fall back on)."""
        return True

    def input_files(self, args: argparse.Namespace) -> list[tuple[str, str | None]]:
        """``(option, path)`` of every input a new run reads (an ``--out`` may be none of
        them): ``--data`` and ``--valid`` by default."""
        return [("--data", args.data), ("--valid", args.valid)]

    def resume_options(self, args: argparse.Namespace) -> dict[str, Any]:
        """Keywords of :meth:`resume` that the command line may set besides the limits."""
        return {}

    def describe_training(self, trainer: Trainer, out: str) -> str:
        """The line printed after training: which epoch's weights the directory keeps — the
        one with the best selected figure (the trainer's ``select``), else
        the one with the lowest validation loss (the trainer's own choice) — with its
        validation loss and :attr:`metric`."""
        rows = [row for row in trainer.history if "valid_loss" in row]
        if not rows:
            return f"model saved in {out}"
        selected = f"valid_{trainer.select}"
        if trainer.select == SELECT_LOSS or not any(selected in row for row in rows):
            best = min(rows, key=lambda row: row["valid_loss"])
            criterion = "lowest validation loss"
        else:
            best = max(rows, key=lambda row: row.get(selected, -math.inf))
            criterion = f"best {selected.replace('_', ' ')}"
        figure = best.get(f"valid_{self.metric}")
        extra = "" if figure is None else f", {self.metric.replace('_', ' ')} {figure:.4f}"
        return (f"kept the weights of epoch {best['epoch']} ({criterion}): validation loss "
                f"{best['valid_loss']:.4f}{extra}; model saved in {out}")

    def test_options(self, config: dict[str, Any]) -> dict[str, Any]:
        """Keywords of the pipeline's ``evaluate`` that ``rnnkit train --test`` uses, taken
        from the run's ``config`` (none by default: ``evaluate``'s defaults)."""
        return {}

    def test(self, directory: str | Path, path: str | Path,
             device: str | torch.device | None = None) -> tuple[Pipeline, dict[str, Any]]:
        """The pipeline of the model ``directory`` keeps (the selected epoch's weights) and
        its ``evaluate`` report on ``path`` with :meth:`test_options` — the figures of
        ``rnnkit evaluate`` given the same options. The report's numbers are appended to
        ``metrics.jsonl`` as one row, ``{"test": path, "test_loss": …}``."""
        directory = Path(directory)
        pipeline = self.load(directory, device)
        options = self.test_options(self.check_config(directory,
                                                      read_config(directory, self.name)))
        report = pipeline.evaluate(path, **options)
        row = {"test": str(path), **{f"test_{name}": value for name, value in report.items()
                                     if isinstance(value, int | float)}}
        metrics = directory / METRICS_FILE
        previous = metrics.read_text(encoding="utf-8") if metrics.is_file() else ""
        with atomic_path(metrics) as temporary:
            temporary.write_text(previous + json.dumps(row) + "\n", encoding="utf-8")
        return pipeline, report

    def add_evaluate_arguments(self, group: argparse._ArgumentGroup) -> None:
        """Options of ``rnnkit evaluate`` that only this task reads (none by default)."""

    def evaluate_options(self, args: argparse.Namespace) -> dict[str, Any]:
        """Keywords of the pipeline's ``evaluate`` taken from the command line."""
        return {}

    def format_report(self, pipeline: Pipeline, report: dict[str, Any],
                      args: argparse.Namespace) -> str:
        """``rnnkit evaluate``'s text output (default: one ``name<TAB>value`` line per
        number); a task may also write files the command asked for (a plot)."""
        return "\n".join(f"{name}\t{value:.4f}" if isinstance(value, float)
                         else f"{name}\t{value}" for name, value in report.items()
                         if isinstance(value, int | float | str))

    def predict_lines(self, pipeline: Pipeline, texts: list[str] | None, path: str | None,
                      output_format: str) -> Iterable[str]:
        """``rnnkit predict``'s output lines for ``texts`` (``--text``) or the file ``path``
        (``--input``), in ``output_format`` (``tsv`` or ``json``)."""
        raise NotImplementedError(f"{type(self).__name__} sets predict_instead")


_TASKS: dict[str, Task] = {}
BUILT_IN_MODULES = ("language_modeling", "classification", "tagging", "translation")
"""The modules of the tasks rnnkit itself registers (importing one registers its task)."""
_built_in_loaded = False


def _load_built_in() -> None:
    """Register rnnkit's own tasks before the registry is first read or added to (their
    modules import torch, so ``import rnnkit.tasks`` alone does not load them)."""
    global _built_in_loaded
    if not _built_in_loaded:
        _built_in_loaded = True
        for module in BUILT_IN_MODULES:
            import_module(f"rnnkit.tasks.{module}")


def register(task: Task) -> Task:
    """File ``task`` under its name; a second task of the same name is an error."""
    _load_built_in()
    if not isinstance(task, Task):
        raise TypeError(f"register: expected a Task instance, got {type(task).__name__}")
    if task.name in _TASKS and _TASKS[task.name] is not task:
        raise ValueError(f"register: a task named {task.name!r} is already registered "
                         f"({type(_TASKS[task.name]).__name__})")
    _TASKS[task.name] = task
    return task


def unregister(name: str) -> None:
    """Remove the task filed under ``name`` (a task defined for a while, as in tests)."""
    _load_built_in()
    if name not in _TASKS:
        raise ValueError(f"unregister: no task named {name!r}; registered: {sorted(_TASKS)}")
    del _TASKS[name]


def registered_tasks() -> list[Task]:
    """The registered tasks, in registration order."""
    _load_built_in()
    return list(_TASKS.values())


def get_task(name: str) -> Task:
    """The task filed under ``name``; an unknown name is a ValueError listing the known."""
    _load_built_in()
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; this rnnkit knows {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def model_entries() -> frozenset[str]:
    """Every name a model directory of any registered task may hold."""
    _load_built_in()
    return MODEL_FILES.union(*(task.outputs for task in _TASKS.values()))


def task_of(directory: str | Path) -> Task:
    """The registered task of a model directory, read from its ``config.json``."""
    _load_built_in()
    name = read_config(directory).get("task")
    if not isinstance(name, str) or name not in _TASKS:
        raise ModelDirectoryError(f"{Path(directory) / CONFIG_FILE} holds a model of task "
                                  f"{json.dumps(name)}, which this rnnkit does not know "
                                  f"(it knows {', '.join(sorted(_TASKS))})")
    return _TASKS[name]


def load(path: str | Path | Sequence[str | Path],
         device: str | torch.device | None = None) -> Pipeline:
    """The pipeline of a trained model directory, for whatever task it holds; a list of
    directories is an ensemble (classifiers), the same pipeline type. Export directories
    (``rnnkit export``'s) are :func:`rnnkit.load`'s, which also takes model directories.

    >>> pipeline = rnnkit.load("runs/demo")              # doctest: +SKIP
    >>> pipeline.generate("ROMEO:", max_tokens=50)       # doctest: +SKIP
    """
    if isinstance(path, str | Path):
        return task_of(path).load(path, device)
    directories = list(path)
    if not directories:
        raise ValueError("load: expected a model directory or a list of them, got an empty "
                         "list")
    tasks = [task_of(directory) for directory in directories]
    if any(task is not tasks[0] for task in tasks):
        found = ", ".join(f"{directory}: {task.name}" for directory, task in zip(directories,
                                                                                tasks))
        raise ValueError(f"load: an ensemble's directories must hold models of one task; "
                         f"got {found}")
    if len(directories) == 1:
        return tasks[0].load(directories[0], device)
    return tasks[0].load_ensemble(directories, device)

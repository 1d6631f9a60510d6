"""The generic trainer: backpropagation (through time) for any task.

The trainer knows a task only through :class:`TrainingTask`: which batches an epoch has, how
one step turns a batch (and what the previous step carried, e.g. a detached hidden state for
truncated BPTT) into a loss, and how to evaluate. It owns the optimizer, clipping, schedules,
early stopping, seeds, progress, checkpoints (exact resume) and the loss plot.

Every checkpoint is taken where the model, optimizer, position and random generators agree (a
step boundary or an epoch's end), so resuming from any of them, the latest or an older one
(after ``kill -9``), reproduces the uninterrupted run bit for bit. SIGINT (Ctrl-C) and SIGTERM
never stop training mid-step: they request a stop that the loop honours at the next step
boundary, after saving a checkpoint there.

Under ``torchrun`` every process runs the same loop on its share of each global batch (see
:mod:`rnnkit.train.distributed`): the model is wrapped in DistributedDataParallel, the loss
and count of each step are summed over the processes (so every process logs, checks and
stops on the same figures), and only the first process writes files and shows progress.
Checkpoints hold every process's random generators and the carried state of all of them,
joined (the task's ``join_carries``), so a run resumes with any number of processes.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from rnnkit.text import atomic_path
from rnnkit.text.atomic import DISK_FULL
from rnnkit.train import codec, distributed
from rnnkit.train.config import TrainConfig
from rnnkit.train.model_dir import (
    LOSS_PLOT,
    METRICS_FILE,
    STATE_FILE,
    load_metadata,
    load_tensors,
    save_tensors,
    save_weights,
)
from rnnkit.train.optim import build_optimizer, build_scheduler
from rnnkit.train.plots import plot_losses


class StepOutput(NamedTuple):
    loss: Tensor  # mean loss of the batch (0-dim)
    count: int  # what the mean is over (the task's ``unit``), for weighting and throughput
    carry: Any = None  # what the next step of the same epoch receives (e.g. hidden state)


class TrainingTask(Protocol):
    """What the trainer needs to know of a task."""

    name: str
    unit: str  # what ``StepOutput.count`` counts, plural ("tokens", "sentences"): throughput

    def train_batches(self, epoch: int) -> Sequence[Any]:
        """The batches of an epoch, the same on every call with that epoch (for resuming)."""

    def train_step(self, model: nn.Module, batch: Any, carry: Any) -> StepOutput:
        """Forward one batch in training mode; ``carry`` is None at the start of an epoch.
        Under torchrun ``model`` is DDP's wrapper: call it, but read nothing from it."""

    def evaluate(self, model: nn.Module) -> dict[str, float] | None:
        """Validation metrics including ``"loss"``, or None without validation data."""

    def describe(self, loss: float) -> dict[str, float]:
        """Extra figures for a mean loss (e.g. perplexity), logged and shown in progress."""

    # Under torchrun, ``train_batches`` holds this process's share of each global batch (a
    # ``distributed.Standin`` where the share is empty) and ``evaluate`` reduces its figures
    # over the processes. A task whose ``carry`` is per-row state also defines
    # ``join_carries(carries) -> carry`` (every process's, in rank order, into the global
    # batch's) and ``share_carry(carry) -> carry`` (this process's rows of a joined one). A
    # task whose every step uses every parameter says so (``every_parameter_used = True``),
    # which spares DDP its search for unused ones.


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class OutOfSpace(OSError):
    """A file of the run could not be written for want of room; the last checkpoint is kept
    (every file is replaced atomically), so the run resumes once there is space."""

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""What asks :meth:`Trainer.fit` to stop at the next step boundary (a second one: at once)."""


@dataclass
class _Position:
    """Where training stands: the next batch to run, and what it needs."""

    epoch: int = 0
    batch_index: int = 0
    global_step: int = 0
    carry: Any = None
    loss_sum: float = 0.0
    count: int = 0


def _capture_rng() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "cached": cached},
        "python": [list(part) if isinstance(part, tuple) else part
                   for part in random.getstate()],
    }


def _restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32),
                         numpy_state["pos"], numpy_state["has_gauss"], numpy_state["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def process_seed(seed: int, rank: int) -> int:
    """The seed of process ``rank``'s generators (dropout masks, sampling): ``seed`` itself
    for the first process, so that one process trains as before; distinct for the others,
    so that processes draw distinct masks for their distinct rows."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


class Trainer:
    """Train ``model`` on ``task`` into ``directory`` (a model directory).

    ``model.safetensors`` holds the weights of the epoch with the lowest validation loss, or,
    with ``select`` naming another validation figure (``"accuracy"``, ``"f1"``: higher is
    better), of the epoch where that figure was highest; the loss and the task metric often
    disagree late in training. The best figure is part of the checkpoint, so a resumed run
    keeps choosing as an uninterrupted one would. ``callbacks`` are called as ``callback(trainer, event, info)`` with event ``"step"`` after
    each optimizer step and ``"epoch"`` after each epoch's evaluation. During :meth:`fit`
    (called in the main thread) SIGINT and SIGTERM save a checkpoint at the next step boundary
    and then raise ``KeyboardInterrupt``, so ``fit(resume=True)`` continues exactly where the
    run stopped; a second signal raises at once, leaving the previous checkpoint to resume
    from. A ``KeyboardInterrupt`` from elsewhere (a callback) saves nothing: the step it
    interrupts may be half done.
    """

    def __init__(
        self,
        model: nn.Module,
        task: TrainingTask,
        config: TrainConfig,
        directory: str | Path,
        quiet: bool = False,
        callbacks: Sequence[Callable[[Trainer, str, dict], None]] = (),
        select: str = "loss",
    ) -> None:
        if not isinstance(select, str) or not select:
            raise ValueError(f"Trainer: select must name a validation figure, got {select!r}")
        self.select = select
        self.model = model
        self.task = task
        self.config = config
        self.directory = Path(directory)
        if distributed.is_main():
            self.directory.mkdir(parents=True, exist_ok=True)
        self.quiet = quiet or not distributed.is_main()
        self.callbacks = list(callbacks)
        self.optimizer = build_optimizer(model, config)
        steps_per_epoch = len(task.train_batches(0))
        total = config.epochs * steps_per_epoch
        if config.max_steps:
            total = min(total, config.max_steps)
        self.scheduler = build_scheduler(self.optimizer, config, total)
        self.history: list[dict[str, Any]] = []
        self._deadline = math.inf
        self.best_loss = math.inf
        self.best_selected = -math.inf
        self.bad_epochs = 0
        self.position = _Position()
        self._stop_signal: int | None = None
        self._stop_agreed = False
        self._trained = model  # the model steps run through (DDP's wrapper under torchrun)

    def fit(self, resume: bool = False) -> list[dict[str, Any]]:
        """Train to the configured end; returns the per-epoch history.

        A new run saves a checkpoint before its first step, so that a run killed at any
        point later resumes. Running out of disk space raises :class:`OutOfSpace`.
        """
        device = next(self.model.parameters()).device
        with distributed.session(device), self._stop_on_signals():
            try:
                if resume:
                    self._load_state()
                else:
                    seed_everything(process_seed(self.config.seed, distributed.rank()))
                    self._save_state(_capture_rng())
                self._trained = distributed.wrap(
                    self.model, getattr(self.task, "every_parameter_used", False))
                if self.config.max_minutes:
                    self._deadline = time.monotonic() + 60 * self.config.max_minutes
                while self.position.epoch < self.config.epochs:
                    if not self._run_epoch():
                        self._end_epoch(partial=True)
                        break
                    if self._end_epoch():
                        break
            except OSError as error:
                if error.errno not in DISK_FULL:
                    raise
                kept = ("its last checkpoint is kept: free some space, then resume"
                        if (self.directory / STATE_FILE).is_file() else "no checkpoint was kept")
                raise OutOfSpace(error.errno, f"{error.strerror}; training stopped, "
                                              f"{kept}") from error
        return self.history

    @contextlib.contextmanager
    def _stop_on_signals(self):
        """Route :data:`STOP_SIGNALS` to a stop request for the block, then restore the
        handlers (only the main thread may install them; elsewhere nothing changes)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum: int, frame) -> None:
            if self._stop_signal is not None:
                raise KeyboardInterrupt(signal.Signals(signum).name)
            self._stop_signal = signum

        self._stop_signal, self._stop_agreed = None, False
        previous = {number: signal.signal(number, request_stop) for number in STOP_SIGNALS}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler if handler is not None else signal.SIG_DFL)

    def _run_epoch(self) -> bool:
        """Run the rest of the current epoch; False when training must stop early."""
        position, config = self.position, self.config
        batches = self.task.train_batches(position.epoch)
        rng = _capture_rng()
        started, tokens = time.perf_counter(), 0
        bar = tqdm(total=len(batches), initial=position.batch_index, unit="batch",
                   desc=f"epoch {position.epoch + 1}/{config.epochs}", leave=False,
                   disable=True if self.quiet else None, dynamic_ncols=True)
        try:
            for index in range(position.batch_index, len(batches)):
                if self._stop_agreed or (self._stop_signal is not None
                                         and not distributed.active()):
                    self._save_state(rng)
                    raise KeyboardInterrupt(signal.Signals(self._stop_signal or
                                                           signal.SIGTERM).name)
                self.model.train()
                output = self._step(batches[index], position.carry)
                # One reduction per step: the global loss and count, and whether any process
                # was asked to stop or ran out of time, so that all stop at the same step.
                loss_sum, count, signalled, out_of_time = distributed.all_sum(
                    [output.loss.detach().item() * output.count, output.count,
                     self._stop_signal is not None, time.monotonic() >= self._deadline])
                loss, count = loss_sum / max(1, count), int(count)
                self._stop_agreed = signalled > 0
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {loss} at epoch {position.epoch + 1}, step "
                        f"{position.global_step + 1}; the last good checkpoint in "
                        f"{self.directory} is kept (try a lower --lr or a --clip)"
                    )
                self._optimize(output.loss if not distributed.active() else output.loss
                               * distributed.global_loss_weight(output.count, max(1, count)))
                position.batch_index, position.carry = index + 1, output.carry
                position.global_step += 1
                position.loss_sum += loss * count
                position.count += count
                rng = _capture_rng()
                tokens += count
                mean = position.loss_sum / max(1, position.count)
                bar.update(1)
                extra = {k: f"{v:.4g}" for k, v in self.task.describe(mean).items()}
                bar.set_postfix(loss=f"{mean:.3f}", **extra,
                                tok_s=f"{tokens / (time.perf_counter() - started):.0f}")
                if config.checkpoint_every and position.global_step % config.checkpoint_every == 0:
                    self._save_state(rng)
                for callback in self.callbacks:
                    callback(self, "step", {"loss": loss, "step": position.global_step})
                if (config.max_steps and position.global_step >= config.max_steps) or \
                        out_of_time > 0:
                    return False
        finally:
            bar.close()
            self._throughput = tokens / max(1e-9, time.perf_counter() - started)
            self._rng = rng
        return True

    def _step(self, batch: Any, carry: Any) -> StepOutput:
        """The task's step on ``batch``; a :class:`~rnnkit.train.distributed.Standin` runs
        its batch with a loss that counts 0, so that gradients of 0 join the all-reduce."""
        if isinstance(batch, distributed.Standin):
            output = self.task.train_step(self._trained, batch.batch, carry)
            return StepOutput(output.loss * 0, 0, output.carry)
        return self.task.train_step(self._trained, batch, carry)

    def _optimize(self, loss: Tensor) -> None:
        regularization = getattr(self.model, "regularization_loss", None)
        total = loss + regularization() if regularization is not None else loss
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if self.config.clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        constrain = getattr(self.model, "apply_constraints", None)
        if constrain is not None:
            constrain()
        if self.config.schedule == "cosine":
            self.scheduler.step()

    def _end_epoch(self, partial: bool = False) -> bool:
        """Evaluate, log, schedule, checkpoint; True when early stopping says stop.

        A ``partial`` end (a step or time limit inside an epoch) evaluates, logs and saves
        the weights, but keeps the position inside the epoch and leaves the schedule alone.
        """
        position, config = self.position, self.config
        valid = self.task.evaluate(self.model)
        row = {
            "epoch": position.epoch + 1,
            "partial": partial,
            "step": position.global_step,
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": position.loss_sum / max(1, position.count),
            **{f"train_{k}": v for k, v in
               self.task.describe(position.loss_sum / max(1, position.count)).items()},
            f"{self.task.unit}_per_s": round(self._throughput, 1),
        }
        if valid is not None:
            row.update({f"valid_{name}": value for name, value in valid.items()})
        self.history.append(row)
        monitored = valid["loss"] if valid is not None else row["train_loss"]
        improved = monitored < self.best_loss
        if improved:
            self.best_loss, self.bad_epochs = monitored, 0
        elif not partial:
            self.bad_epochs += 1
        selected = row.get(f"valid_{self.select}") if self.select != "loss" else None
        if selected is None:
            keep = improved
        else:
            keep = selected > self.best_selected
            self.best_selected = max(self.best_selected, selected)
        if keep and distributed.is_main():
            save_weights(self.directory, self.model)
        if partial:
            self._save_state(self._rng)
        else:
            if config.schedule == "step":
                self.scheduler.step()
            elif config.schedule == "plateau":
                self.scheduler.step(monitored)
            self.position = _Position(epoch=position.epoch + 1, global_step=position.global_step)
            self._save_state(_capture_rng())
        self._write_logs()
        if not self.quiet:
            tqdm.write(self._summary(row))
        for callback in self.callbacks:
            callback(self, "epoch", row)
        return bool(config.early_stopping) and self.bad_epochs >= config.early_stopping

    def _best_selected_in_history(self) -> float:
        """The best selected figure so far, read from the history (checkpoints of runs made
        before the trainer kept it)."""
        key = f"valid_{self.select}"
        return max((row[key] for row in self.history if key in row), default=-math.inf)

    def _summary(self, row: dict[str, Any]) -> str:
        epoch = f"epoch {row['epoch']}/{self.config.epochs}" + (" (stopped early)" if row["partial"] else "")
        fields = [epoch, f"lr {row['lr']:.4g}",
                  f"train loss {row['train_loss']:.4f}"]
        fields += [f"{k.replace('_', ' ')} {v:.4g}" for k, v in row.items()
                   if k.startswith("train_") and k != "train_loss"]
        if "valid_loss" in row:
            fields.append(f"valid loss {row['valid_loss']:.4f}")
            fields += [f"{k.replace('_', ' ')} {v:.4g}" for k, v in row.items()
                       if k.startswith("valid_") and k != "valid_loss"]
        unit = self.task.unit
        fields.append(f"{row[unit + '_per_s']:.0f} {unit}/s")
        return " | ".join(fields)

    def _write_logs(self) -> None:
        if not distributed.is_main():
            return
        with atomic_path(self.directory / METRICS_FILE) as temporary:
            lines = "".join(json.dumps(row) + "\n" for row in self.history)
            temporary.write_text(lines, encoding="utf-8")
        plot_losses(self.history, self.directory / LOSS_PLOT, self.task.name)

    def _save_state(self, rng: dict[str, Any]) -> None:
        """Everything exact resume needs, in one safetensors file (replaced atomically) that
        the first process writes: the others hand it their generators and carried state."""
        rngs = distributed.all_gather(rng)
        carry = self.position.carry
        if distributed.active():
            carries = distributed.all_gather(distributed.cpu_copy(carry))
            carry = None if all(part is None for part in carries) else \
                self.task.join_carries(carries)
        if not distributed.is_main():
            return
        tensors: dict[str, Tensor] = {
            f"model.{name}": value for name, value in self.model.state_dict().items()
        }
        position = self.position
        state = {
            "optimizer": codec.encode(self.optimizer.state_dict(), tensors, "optim."),
            "scheduler": codec.encode(
                self.scheduler.state_dict() if self.scheduler is not None else None,
                tensors, "sched."),
            "carry": codec.encode(carry, tensors, "carry."),
            "rng": codec.encode(rngs[0], tensors, "rng."),
            "rng_of_others": codec.encode(rngs[1:], tensors, "rngs."),
            "position": {"epoch": position.epoch, "batch_index": position.batch_index,
                         "global_step": position.global_step, "loss_sum": position.loss_sum,
                         "count": position.count},
            "history": self.history,
            "best_loss": self.best_loss,
            "best_selected": self.best_selected,
            "bad_epochs": self.bad_epochs,
        }
        save_tensors(self.directory / STATE_FILE, tensors, {"state": json.dumps(state)})

    def _load_state(self) -> None:
        path = self.directory / STATE_FILE
        tensors = load_tensors(path)
        state = json.loads(load_metadata(path)["state"])
        model_state = {name[len("model."):]: value for name, value in tensors.items()
                       if name.startswith("model.")}
        self.model.load_state_dict(model_state)
        self.optimizer.load_state_dict(codec.decode(state["optimizer"], tensors))
        if self.scheduler is not None:
            self.scheduler.load_state_dict(codec.decode(state["scheduler"], tensors))
        position = state["position"]
        carry = codec.decode(state["carry"], tensors)
        if carry is not None and hasattr(self.task, "share_carry"):
            carry = self.task.share_carry(carry)
        self.position = _Position(carry=carry, **position)
        self.history = state["history"]
        self.best_loss = state["best_loss"]
        self.best_selected = state.get("best_selected", self._best_selected_in_history())
        self.bad_epochs = state["bad_epochs"]
        rngs = [codec.decode(state["rng"], tensors),
                *codec.decode(state.get("rng_of_others", []), tensors)]
        own = distributed.rank()
        if own < len(rngs):
            _restore_rng(rngs[own])
        else:
            seed_everything(process_seed(self.config.seed + position["global_step"], own))

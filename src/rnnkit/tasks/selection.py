"""Keep the weights of the epoch with the best validation metric (accuracy, F1, BLEU).

The trainer saves ``model.safetensors`` whenever the validation *loss* improves; for
classification, tagging and translation the loss and the task metric often disagree late in
training (the loss rises while accuracy or F1 still improves). :class:`KeepBest` is a trainer
callback that leaves ``model.safetensors`` holding the weights of the epoch with the highest
``valid_<metric>`` instead, rewriting them after any save of the trainer's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from rnnkit.train.model_dir import WEIGHTS_FILE, load_tensors, save_tensors, save_weights

SELECT_LOSS = "loss"


class KeepBest:
    """``callback(trainer, "epoch", row)``: keep the weights with the highest ``valid_<metric>``.

    Built before ``fit`` so that, on resume, the best weights saved so far are known.
    """

    def __init__(self, metric: str, directory: Path) -> None:
        self.key = f"valid_{metric}"
        self.best = -math.inf
        self.state: dict[str, torch.Tensor] | None = None
        if (directory / WEIGHTS_FILE).is_file():
            self.state = load_tensors(directory / WEIGHTS_FILE)

    def __call__(self, trainer: Any, event: str, row: dict[str, Any]) -> None:
        if event != "epoch" or self.key not in row:
            return
        if self.best == -math.inf:  # first call (also after a resume): the history so far
            self.best = max((r[self.key] for r in trainer.history[:-1] if self.key in r),
                            default=-math.inf)
        if row[self.key] > self.best:
            self.best = row[self.key]
            self.state = {name: value.detach().clone()
                          for name, value in trainer.model.state_dict().items()}
            save_weights(trainer.directory, trainer.model)
        elif self.state is not None:
            save_tensors(trainer.directory / WEIGHTS_FILE, self.state)


def callbacks_for(select: str, directory: Path, callbacks) -> list:
    """The user's callbacks plus :class:`KeepBest` unless ``select`` is ``"loss"``."""
    if select == SELECT_LOSS:
        return list(callbacks)
    return [*callbacks, KeepBest(select, directory)]


def check_select(select: str, choices: tuple[str, ...]) -> None:
    if select not in choices:
        raise ValueError(f"select must be one of {', '.join(choices)}, got {select!r}")

"""The trainer's configuration: optimizer, schedule, clipping, stopping, seeds."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnnkit.configs import config_from_dict

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "plateau", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """How to train (task-agnostic).

    Schedules: ``constant``; ``step`` multiplies the learning rate by ``lr_decay`` at the end of
    every epoch from epoch ``decay_start`` on (Zaremba et al.: lr 1, halved after epoch 4);
    ``plateau`` multiplies it by ``lr_decay`` when the validation loss has not improved for
    ``patience`` epochs; ``cosine`` anneals it to 0 over all steps. ``early_stopping`` stops
    after that many epochs without validation improvement (0: never). ``clip`` is the
    gradient-norm bound (0: none). ``checkpoint_every`` also checkpoints every N steps inside
    an epoch (0: at epoch ends only). ``max_steps`` and ``max_minutes`` (0: no limit) stop
    training early, after a checkpoint, an evaluation and a save of the weights.
    """

    epochs: int = 10
    optimizer: str = "sgd"
    lr: float = 1.0
    momentum: float = 0.0
    weight_decay: float = 0.0
    clip: float = 5.0
    schedule: str = "constant"
    lr_decay: float = 0.5
    decay_start: int = 4
    patience: int = 0
    early_stopping: int = 0
    seed: int = 0
    max_steps: int = 0
    max_minutes: float = 0.0
    checkpoint_every: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, "
                             f"got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, "
                             f"got {self.schedule!r}")
        positive = {"epochs": self.epochs, "lr": self.lr}
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        non_negative = ("momentum", "weight_decay", "clip", "patience", "early_stopping",
                        "max_steps", "max_minutes", "checkpoint_every", "decay_start")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        return config_from_dict(cls, data)

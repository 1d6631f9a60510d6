"""The trainer's configuration: optimizer, schedule, clipping, stopping, seeds."""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.configs import ValidatedConfig, at_least, choice, number, positive_int

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "plateau", "cosine")


@dataclass(frozen=True)
class TrainConfig(ValidatedConfig):
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

    epochs: int = positive_int(10)
    optimizer: str = choice(OPTIMIZERS, "sgd")
    lr: float = number(1.0, above=0)
    momentum: float = number(0.0, minimum=0)
    weight_decay: float = number(0.0, minimum=0)
    clip: float = number(5.0, minimum=0)
    schedule: str = choice(SCHEDULES, "constant")
    lr_decay: float = number(0.5, above=0, maximum=1)
    decay_start: int = at_least(0, 4)
    patience: int = at_least(0, 0)
    early_stopping: int = at_least(0, 0)
    seed: int = 0
    max_steps: int = at_least(0, 0)
    max_minutes: float = number(0.0, minimum=0)
    checkpoint_every: int = at_least(0, 0)

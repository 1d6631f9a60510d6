"""Optimizers and learning-rate schedules from a :class:`TrainConfig`."""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.train.config import TrainConfig


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    parameters = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)


class _StepDecay:
    """LambdaLR factor ``lr_decay ** max(0, epochs_done + 1 - decay_start)``; an object, not a
    lambda, so that the scheduler's state dict holds plain numbers."""

    def __init__(self, decay: float, start: int) -> None:
        self.decay, self.start = decay, start

    def __call__(self, epochs_done: int) -> float:
        return self.decay ** max(0, epochs_done + 1 - self.start)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    """The scheduler, or ``None`` for a constant rate.

    ``step`` and ``plateau`` advance once per epoch (plateau with the validation loss),
    ``cosine`` once per optimizer step.
    """
    if config.schedule == "step":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, _StepDecay(config.lr_decay, config.decay_start)
        )
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=config.lr_decay, patience=config.patience
        )
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))
    return None

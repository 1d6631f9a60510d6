"""rnnkit.train: the generic trainer, model directories, schedules, logs and plots."""

from rnnkit.train import distributed
from rnnkit.train.config import TrainConfig
from rnnkit.train.model_dir import ModelDirectoryError
from rnnkit.train.trainer import (
    StepOutput,
    Trainer,
    TrainingDiverged,
    TrainingTask,
    seed_everything,
)

__all__ = [
    "ModelDirectoryError",
    "StepOutput",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "TrainingTask",
    "distributed",
    "seed_everything",
]

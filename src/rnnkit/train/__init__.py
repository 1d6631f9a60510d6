"""rnnkit.train: the generic trainer, model directories, schedules, logs and plots.

The names below load their module on first use, so reading a model directory's files
(:mod:`rnnkit.train.directory`) does not import torch.
"""

from importlib import import_module

_MODULE_OF = {
    "ModelDirectoryError": "directory",
    "TrainConfig": "config",
    "StepOutput": "trainer",
    "Trainer": "trainer",
    "TrainingDiverged": "trainer",
    "TrainingTask": "trainer",
    "seed_everything": "trainer",
}

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


def __getattr__(name: str):
    if name == "distributed":
        return import_module("rnnkit.train.distributed")
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'rnnkit.train' has no attribute {name!r}")
    value = getattr(import_module(f"rnnkit.train.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""rnnkit.train: the generic trainer, model directories, schedules, logs and plots.

The names below load their module on first use, so reading a model directory's files
(:mod:`rnnkit.train.directory`) does not import torch.
"""

from importlib import import_module
from types import ModuleType

from rnnkit._lazy import lazy_exports

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


def _distributed() -> ModuleType:
    """The submodule :mod:`rnnkit.train.distributed` (torch.distributed helpers)."""
    return import_module("rnnkit.train.distributed")


__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF, {"distributed": _distributed})

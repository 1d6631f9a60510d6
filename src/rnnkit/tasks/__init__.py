"""rnnkit.tasks: one module per task, each fulfilling the :class:`Task` contract and filed in
the registry under the name ``config.json`` stores; :func:`load` returns the pipeline of any
trained model directory."""

from rnnkit.tasks import classification, language_modeling, tagging, translation
from rnnkit.tasks.contract import (
    Pipeline,
    Prepared,
    Task,
    TrainingDefaults,
    get_task,
    load,
    register,
    registered_tasks,
    task_of,
    unregister,
)

BUILT_IN = (language_modeling.LANGUAGE_MODELING, classification.CLASSIFICATION,
            tagging.TAGGING, translation.TRANSLATION)
"""The tasks rnnkit itself registers (importing their modules registers them)."""

__all__ = [
    "BUILT_IN",
    "Pipeline",
    "Prepared",
    "Task",
    "TrainingDefaults",
    "get_task",
    "load",
    "register",
    "registered_tasks",
    "task_of",
    "unregister",
]

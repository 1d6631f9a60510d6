"""rnnkit.tasks: one module per task, each fulfilling the :class:`Task` contract and filed in
the registry under the name ``config.json`` stores; :func:`load` returns the pipeline of any
trained model directory.

The pipelines' text side is torch-free (:mod:`.pipeline`, :mod:`.lm_pipeline`,
:mod:`.classifier_pipeline`, :mod:`.tagger_pipeline`, :mod:`.translator_pipeline`), so this
package imports nothing at first: the names below load their module (and the task modules,
with torch) on first use.
"""

from importlib import import_module

_MODULE_OF = {
    "Pipeline": "pipeline",
    "Prepared": "contract",
    "Task": "contract",
    "TrainingDefaults": "contract",
    "get_task": "contract",
    "load": "contract",
    "register": "contract",
    "registered_tasks": "contract",
    "task_of": "contract",
    "unregister": "contract",
}

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


def __getattr__(name: str):
    if name == "BUILT_IN":
        tasks = import_module("rnnkit.tasks.contract")
        tasks.registered_tasks()
        value = tuple(tasks.get_task(task) for task in ("lm", "classify", "tag", "translate"))
    elif name in _MODULE_OF:
        value = getattr(import_module(f"rnnkit.tasks.{_MODULE_OF[name]}"), name)
    else:
        raise AttributeError(f"module 'rnnkit.tasks' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

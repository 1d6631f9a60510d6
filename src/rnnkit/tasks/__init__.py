"""rnnkit.tasks: one module per task, each fulfilling the :class:`Task` contract and filed in
the registry under the name ``config.json`` stores; :func:`load` returns the pipeline of any
trained model directory.

The pipelines' text side is torch-free (:mod:`.pipeline`, :mod:`.lm_pipeline`,
:mod:`.classifier_pipeline`, :mod:`.tagger_pipeline`, :mod:`.translator_pipeline`), so this
package imports nothing at first: the names below load their module (and the task modules,
with torch) on first use.
"""

from importlib import import_module

from rnnkit._lazy import lazy_exports

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


def _built_in() -> tuple:
    """The built-in tasks, in the order the command line lists them (importing the task
    modules registers them)."""
    tasks = import_module("rnnkit.tasks.contract")
    tasks.registered_tasks()
    return tuple(tasks.get_task(task) for task in ("lm", "classify", "tag", "translate"))


__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF, {"BUILT_IN": _built_in})

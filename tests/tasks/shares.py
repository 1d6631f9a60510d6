"""Evaluation as each of two processes, without launching them: what every process's share
sends to the reductions (test helper for the tasks that gather predictions)."""

import pytest

from rnnkit.train import distributed


class _Gathered(Exception):
    """Stops an evaluation where a process's share of the predictions would be gathered."""


def evaluate_as_two_processes(task, model, monkeypatch) -> tuple[list, list]:
    """``task.evaluate(model)`` as process 0 and 1 of 2 (``RANK``/``WORLD_SIZE`` set), each
    stopped where it would gather its predictions: the values each gave ``all_sum`` and the
    predictions each would gather, in rank order."""
    sums, gathered = [], []

    def gather(values):
        gathered.append(list(values))
        raise _Gathered

    monkeypatch.setattr(distributed, "all_sum", lambda values: sums.append(values) or values)
    monkeypatch.setattr(distributed, "gather_shares", gather)
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        with pytest.raises(_Gathered):
            task.evaluate(model)
    return sums, gathered

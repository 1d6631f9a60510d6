"""Timing shared by the benchmarks: interleaved medians for the micro-benchmarks
(``bench_products``, ``bench_loss``, ``bench_pointwise``): each way runs once to warm up, then
in every round each makes ``calls`` calls, the order rotating by one so that none always runs
right after the same other; and a trainer callback that clocks a window of steps
(``bench_ddp``, ``bench_trainer_overhead``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved_medians(runs: dict[str, Callable[[], object]], rounds: int,
                        calls: int = 1) -> dict[str, float]:
    """Median seconds per call of each named run over ``rounds`` interleaved rounds."""
    for run in runs.values():
        run()
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        for name in names[index % len(names):] + names[:index % len(names)]:
            started = time.perf_counter()
            for _ in range(calls):
                runs[name]()
            times[name].append((time.perf_counter() - started) / calls)
    return {name: statistics.median(values) for name, values in times.items()}


class StepClock:
    """A ``Trainer`` step callback: the time at the end of step ``first`` and of step
    ``last``."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last
        self.times: dict[int, float] = {}

    def __call__(self, trainer: object, event: str, info: dict) -> None:
        if event == "step" and info["step"] in (self.first, self.last):
            self.times[info["step"]] = time.perf_counter()

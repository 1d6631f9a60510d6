"""Dynamic batching: the requests that arrive together for one model run as one pipeline call.

Each model has a :class:`Batcher`: a queue and one worker thread. The worker takes the first
waiting job, then gathers more until the batch holds ``max_batch`` items or ``max_wait``
seconds have passed since that first job; the jobs whose options are equal share one call
(options that differ run as calls of their own, in arrival order). The calls run on the worker
thread, off the server's event loop, so the server answers other requests while a batch runs.

A call that fails with a ValueError or TypeError (a bad input) in a batch of several jobs is
repeated job by job, so each request gets its own result or its own error — with positions
that count its own items, not the batch's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

Run = Callable[[list[Any], dict[str, Any]], Sequence[Any]]
"""``run(items, options)``: one result per item, in order (a pipeline call)."""

INPUT_ERRORS = (ValueError, TypeError)


@dataclass(frozen=True)
class Job:
    """One request: its items, the options of its call, and where its results go."""

    items: list[Any]
    options: dict[str, Any]
    future: Future = field(default_factory=Future)

    @property
    def key(self) -> Hashable:
        """Jobs with equal keys may share a call."""
        return tuple(sorted(self.options.items()))


class Batcher:
    """A queue of jobs for one pipeline call and the thread that runs them in batches."""

    def __init__(self, run: Run, max_batch: int = 32, max_wait: float = 0.005,
                 name: str = "model") -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"Batcher: max_batch must be an int >= 1, got {max_batch!r}")
        if not isinstance(max_wait, int | float) or not 0 <= max_wait <= 10:
            raise ValueError(f"Batcher: max_wait must be from 0 to 10 seconds, got "
                             f"{max_wait!r}")
        self.run, self.max_batch, self.max_wait, self.name = run, max_batch, max_wait, name
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, items: Sequence[Any], options: dict[str, Any] | None = None) -> Future:
        """Queue ``items`` for a call with ``options``; the future holds their results."""
        job = Job(list(items), dict(options or {}))
        with self._lock:
            if self._closed:
                raise RuntimeError(f"Batcher {self.name!r}: closed, takes no more jobs")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, daemon=True,
                                                name=f"rnnkit-batcher-{self.name}")
                self._thread.start()
            self._queue.put(job)
        return job.future

    def close(self, timeout: float | None = 5.0) -> None:
        """Run the jobs already queued, then stop the worker thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs, stop = self._gather(first)
            for group in _groups(jobs):
                self._call(group)
            if stop:
                return

    def _gather(self, first: Job) -> tuple[list[Job], bool]:
        """``first`` and the jobs that follow it within ``max_wait`` (up to ``max_batch``
        items); True when the queue's end (``close``) was reached."""
        jobs, size = [first], len(first.items)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=remaining) if remaining > 0 \
                    else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
            size += len(job.items)
        return jobs, False

    def _call(self, jobs: list[Job]) -> None:
        """One call for ``jobs`` (equal options); their results handed to their futures."""
        live = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = list(self.run([item for job in live for item in job.items],
                                    live[0].options))
        except INPUT_ERRORS as error:
            if len(live) == 1:
                live[0].future.set_exception(error)
                return
            for job in live:
                _settle(job.future, lambda job=job: list(self.run(job.items, job.options)))
            return
        except Exception as error:  # noqa: BLE001 (handed to the requests, not lost here)
            for job in live:
                job.future.set_exception(error)
            return
        start = 0
        for job in live:
            job.future.set_result(results[start:start + len(job.items)])
            start += len(job.items)


def _settle(future: Future, call: Callable[[], Any]) -> None:
    try:
        future.set_result(call())
    except Exception as error:  # noqa: BLE001 (handed to the request)
        future.set_exception(error)


def _groups(jobs: list[Job]) -> list[list[Job]]:
    """The jobs grouped by options, each group in arrival order, groups by their first job."""
    groups: dict[Hashable, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.key, []).append(job)
    return list(groups.values())

"""Dynamic batching: jobs that arrive together share one call, jobs with other options run
apart, and a bad input in a shared call fails only its own request."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from rnnkit.serve.batching import Batcher


class Recorder:
    """A pipeline call that records the batches it got (items upper-cased, 'bad' refused)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[list, dict]] = []
        self.delay = delay
        self.lock = threading.Lock()
        self.started = threading.Event()

    def __call__(self, items, options):
        with self.lock:
            self.calls.append((list(items), dict(options)))
        self.started.set()
        time.sleep(self.delay)
        if "bad" in items:
            raise ValueError(f"texts: text {items.index('bad') + 1} is bad")
        return [f"{item.upper()}{options.get('suffix', '')}" for item in items]


def test_jobs_that_arrive_together_share_one_call():
    run = Recorder()
    batcher = Batcher(run, max_batch=10, max_wait=0.5)
    futures = [batcher.submit(["a", "b"]), batcher.submit(["c"]), batcher.submit(["d"])]
    assert [future.result(5) for future in futures] == [["A", "B"], ["C"], ["D"]]
    assert run.calls == [(["a", "b", "c", "d"], {})]
    batcher.close()


def test_a_batch_stops_at_max_batch_items():
    run = Recorder()
    batcher = Batcher(run, max_batch=3, max_wait=0.5)
    futures = [batcher.submit([text]) for text in "abcde"]
    assert [future.result(5) for future in futures] == [[text.upper()] for text in "abcde"]
    assert [items for items, _ in run.calls] == [["a", "b", "c"], ["d", "e"]]
    batcher.close()


def test_jobs_with_other_options_run_as_calls_of_their_own():
    run = Recorder()
    batcher = Batcher(run, max_batch=10, max_wait=0.3)
    futures = [batcher.submit(["a"], {"suffix": "!"}), batcher.submit(["b"]),
               batcher.submit(["c"], {"suffix": "!"})]
    assert [future.result(5) for future in futures] == [["A!"], ["B"], ["C!"]]
    assert run.calls == [(["a", "c"], {"suffix": "!"}), (["b"], {})]
    batcher.close()


def test_a_bad_input_fails_its_own_request_with_its_own_positions():
    run = Recorder()
    batcher = Batcher(run, max_batch=10, max_wait=0.3)
    good, bad = batcher.submit(["a", "b"]), batcher.submit(["c", "bad"])
    assert good.result(5) == ["A", "B"]
    with pytest.raises(ValueError, match="texts: text 2 is bad"):
        bad.result(5)
    assert [items for items, _ in run.calls] == [["a", "b", "c", "bad"], ["a", "b"],
                                                 ["c", "bad"]]
    batcher.close()


def test_the_next_batch_gathers_while_one_runs():
    run = Recorder(delay=0.3)
    batcher = Batcher(run, max_batch=10, max_wait=0.0)
    first = batcher.submit(["a"])
    assert run.started.wait(5)  # the first call is running
    with ThreadPoolExecutor(3) as pool:
        later = list(pool.map(lambda text: batcher.submit([text]), "bcd"))
    assert [future.result(5) for future in [first, *later]] == [["A"], ["B"], ["C"], ["D"]]
    assert [sorted(items) for items, _ in run.calls] == [["a"], ["b", "c", "d"]]
    batcher.close()


def test_close_runs_what_is_queued_then_refuses():
    batcher = Batcher(Recorder(), max_batch=10, max_wait=0.0)
    future = batcher.submit(["a"])
    batcher.close()
    assert future.result(1) == ["A"]
    with pytest.raises(RuntimeError, match="closed, takes no more jobs"):
        batcher.submit(["b"])


@pytest.mark.parametrize("keywords, message", [
    ({"max_batch": 0}, "max_batch must be an int >= 1, got 0"),
    ({"max_batch": True}, "max_batch must be an int >= 1, got True"),
    ({"max_wait": -1}, "max_wait must be from 0 to 10 seconds, got -1"),
])
def test_bad_settings(keywords, message):
    with pytest.raises(ValueError, match=message):
        Batcher(Recorder(), **keywords)

"""Stopping ``rnnkit train`` anywhere, by SIGINT (Ctrl-C), SIGTERM or SIGKILL, then ``--resume``,
ends with the weights, checkpoint and metrics of the run that was never stopped, bit for bit.

Each run is a subprocess training a tiny language model (dropout on, so the random generators
must resume too; a checkpoint every 7 steps). A driver stops it at a random step right after
``optimizer.step()`` or in the middle of a checkpoint write; other runs get the signal from
outside at a random moment.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rnnkit
from rnnkit.train.model_dir import METRICS_FILE, STATE_FILE, WEIGHTS_FILE, load_tensors
from rnnkit.train.run_directory import LOCK_FILE

SOURCE = Path(rnnkit.__file__).parents[1]
TIMEOUT = 120
SETTINGS = ["--embed", "8", "--hidden", "8", "--layers", "1", "--bptt", "5", "--batch-size", "4",
            "--epochs", "3", "--dropout", "0.3", "--optimizer", "adam", "--lr", "0.01",
            "--checkpoint-every", "7", "--threads", "1", "--quiet"]

DRIVER = """
import os, signal, sys
from rnnkit.cli import main
from rnnkit.train import model_dir
from rnnkit.train.trainer import Trainer

where, number, at = sys.argv[1], getattr(signal, sys.argv[2]), int(sys.argv[3])
count = [0]

def stop_now():
    count[0] += 1
    if count[0] == at:
        os.kill(os.getpid(), number)

if where == "step":  # after the weights changed, before the trainer records the step
    fit = Trainer.fit
    def hooked_fit(self, resume=False):
        self.optimizer.register_step_post_hook(lambda optimizer, args, kwargs: stop_now())
        return fit(self, resume)
    Trainer.fit = hooked_fit
else:  # a checkpoint written to its temporary file, not yet renamed into place
    save_file = model_dir.save_file
    def interrupted_save(tensors, filename, metadata=None):
        save_file(tensors, filename, metadata=metadata)
        if ".trainer_state.safetensors." in filename:
            stop_now()
    model_dir.save_file = interrupted_save
sys.exit(main(sys.argv[4:]))
"""


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SOURCE), "OMP_WAIT_POLICY": "PASSIVE"}


def _train(corpus: Path, out: Path, *extra: str, driver: tuple[str, ...] = ()):
    """``rnnkit train lm`` (a resume takes the stored settings), through ``DRIVER`` if given."""
    command = [sys.executable, *(["-c", DRIVER, *driver] if driver else ["-m", "rnnkit"])]
    run = ["--threads", "1", "--quiet"] if "--resume" in extra else ["--data", str(corpus),
                                                                      *SETTINGS]
    return subprocess.run([*command, "train", "lm", "--out", str(out), *run, *extra],
                          capture_output=True, text=True, timeout=TIMEOUT, env=_environment(),
                          check=False)


def _outcome(out: Path) -> dict:
    """What a finished run leaves: weights, the final checkpoint's model, metrics."""
    state = load_tensors(out / STATE_FILE)
    rows = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    return {
        "weights": load_tensors(out / WEIGHTS_FILE),
        "final": {name: value for name, value in state.items() if name.startswith("model.")},
        "metrics": [{k: v for k, v in row.items() if k != "tokens_per_s"} for row in rows],
    }


def _assert_identical(outcome: dict, reference: dict, how: str) -> None:
    for part in ("weights", "final"):
        assert outcome[part].keys() == reference[part].keys(), how
        for name, value in reference[part].items():
            assert outcome[part][name].equal(value), f"{how}: {part} {name} differs"
    assert outcome["metrics"] == reference["metrics"], how


def _resume_and_compare(corpus: Path, out: Path, reference: dict, how: str) -> None:
    resumed = _train(corpus, out, "--resume")
    assert resumed.returncode == 0, f"{how}: {resumed.stderr}"
    _assert_identical(_outcome(out), reference, how)
    leftovers = [path.name for path in out.rglob(".*")]
    assert leftovers == [], f"{how}: left {leftovers}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    words = ["the", "cat", "dog", "sat", "on", "a", "mat", "and", "ran", "to", "house",
             "with", "red", "blue", "big", "small"]
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + "\n"
                            for _ in range(300)))
    return path


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reference") / "run"
    done = _train(corpus, out)
    assert done.returncode == 0, done.stderr
    outcome = _outcome(out)
    ends = [row["step"] for row in outcome["metrics"]]
    outcome["steps"] = ends[-1]
    # checkpoints up to each epoch's end: the first, every 7th step's, and the epochs' ends
    outcome["checkpoints"] = [1 + end // 7 + epoch for epoch, end in enumerate(ends, 1)]
    return outcome


@pytest.mark.parametrize(("where", "name"), [
    ("step", "SIGINT"), ("step", "SIGTERM"), ("step", "SIGKILL"),
    ("write", "SIGINT"), ("write", "SIGKILL"),
])
def test_a_stop_at_a_random_step_resumes_to_identical_weights(corpus, reference, tmp_path,
                                                              where, name):
    # SIGINT and SIGTERM stop at the next step, so they need one after the step they land in;
    # SIGKILL may also land in the last step or in the final checkpoint's write
    if where == "step":
        last = reference["steps"] - (name != "SIGKILL")
    else:
        last = reference["checkpoints"][-1 if name == "SIGKILL" else -2]
    at = random.randint(1, last)
    how = f"{name} at {where} {at}"
    out = tmp_path / "run"
    stopped = _train(corpus, out, driver=(where, name, str(at)))
    if name == "SIGKILL":
        assert stopped.returncode == -signal.SIGKILL, f"{how}: {stopped.stderr}"
    else:
        assert stopped.returncode == 130, f"{how}: {stopped.stderr}"
        assert stopped.stderr.endswith(
            f"rnnkit: interrupted; the checkpoint in {out} is kept. Continue with: rnnkit "
            f"train lm --out {out} --resume\n"), how
    _resume_and_compare(corpus, out, reference, how)


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_signal_from_outside_at_a_random_moment_resumes_to_identical_weights(
        corpus, reference, tmp_path, name):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "rnnkit", "train", "lm", "--data", str(corpus), "--out",
         str(out), *SETTINGS], stderr=subprocess.PIPE, text=True, env=_environment())
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out / STATE_FILE).is_file() and time.monotonic() < deadline:
            time.sleep(0.01)
        delay = random.uniform(0, 0.5)
        time.sleep(delay)
        how = f"{name} {delay:.3f} s after the first checkpoint"
        assert process.poll() is None, f"{how}: the run ended before the signal"
        process.send_signal(getattr(signal, name))
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT)
    # The run lasts about a second after its first checkpoint: a signal that lands after its
    # last step finds the work done (exit 0), or the process leaving after it released its
    # directory (SIGTERM's default action, -15). Whichever, the run must resume exactly.
    expected = {"SIGKILL": {-signal.SIGKILL}}.get(name, {130, 0, -getattr(signal, name)})
    assert process.returncode in expected, stderr
    _resume_and_compare(corpus, out, reference, how)


def test_a_second_training_into_the_same_directory_is_refused(corpus, tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "rnnkit", "train", "lm", "--data", str(corpus), "--out",
         str(out), *SETTINGS, "--epochs", "50"], stderr=subprocess.PIPE, text=True,
        env=_environment())
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out / STATE_FILE).is_file() and time.monotonic() < deadline:
            time.sleep(0.01)
        before = {path.name for path in out.iterdir()}
        for extra in (["--resume"], ["--overwrite"]):
            second = _train(corpus, out, *extra)
            assert second.returncode == 1
            assert second.stderr == (f"rnnkit: error: --out {out} is in use by another "
                                     f"training (process {first.pid}); wait for it to end or "
                                     "choose another directory\n")
        assert first.poll() is None
        assert before <= {path.name for path in out.iterdir()}
    finally:
        first.kill()
        first.wait(timeout=TIMEOUT)
    assert (out / LOCK_FILE).is_file()  # killed: the file stays, the lock does not
    assert _train(corpus, out, "--resume", "--epochs", "1").returncode == 0

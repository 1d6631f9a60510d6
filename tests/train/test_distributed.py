"""Training in several processes: real torchrun launches on this machine (gloo over loopback,
one thread each, tiny models in float64, a timeout on every launch), compared with one
process training on the same global batches. Every launch goes through
``tests/train/processes.py``, which kills all it started (torchrun's workers included) when it
ends, fails, times out or its test is torn down.

Exactness: with dropout 0, N processes and one process take the same steps; the weights
differ only by the order of float additions (the all-reduce sums shares that one process
sums in one go), far below the 1e-10 checked here in float64.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import rnnkit
from rnnkit.train import distributed
from rnnkit.train.model_dir import METRICS_FILE, STATE_FILE
from rnnkit.train.trainer import process_seed
from tests.train import processes

JOB = Path(__file__).with_name("distributed_job.py")
SOURCE = Path(__file__).parents[2] / "src"
TIMEOUT = 240  # seconds for one launch; the tiny runs take a few
TOLERANCE = 1e-10  # float64

WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "park", "big"]
POSITIVE = ["a great fun film", "warm and funny", "a joy to watch", "great acting"]
NEGATIVE = ["a dull mess", "boring and long", "a waste of time", "bad acting"]


def _corpus(path: Path) -> Path:
    rng = random.Random(0)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10))) for _ in range(120)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _labelled(path: Path) -> Path:
    # 41 rows: 10 held out, 31 to train on, so that a global batch of 5 leaves one batch of
    # a single example, where the second process runs a stand-in
    rows = [f"{text}\tpos" for text in POSITIVE * 5] + [f"{text}\tneg" for text in NEGATIVE * 5]
    rows.append("fun and warm\tpos")
    random.Random(0).shuffle(rows)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(SOURCE), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1",
            "OMP_WAIT_POLICY": "PASSIVE", "RNNKIT_NO_COMPILE": "1"}


def _torchrun(*options: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *options]


def _launch(command: list[str], check: bool = True) -> subprocess.CompletedProcess:
    done = processes.run(command, _environment(), TIMEOUT)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _job(task: str, data: Path, out: Path, final: Path, *extra: str) -> list[str]:
    return [str(JOB), "--task", task, "--data", str(data), "--out", str(out),
            "--final", str(final), "--float64", *extra]


def _alone(*job: str) -> list[str]:
    return [sys.executable, *job]


def _on_two(*job: str) -> list[str]:
    """Two processes on this machine; ``--standalone`` lets torchrun pick its own free port
    (no race with other programs for one picked here)."""
    return _torchrun("--standalone", "--nproc-per-node", "2", *job)


def _weights(final: Path, rank: int = 0) -> dict[str, torch.Tensor]:
    return load_file(f"{final}.rank{rank}.safetensors")


def _assert_close(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor],
                  tolerance: float = TOLERANCE) -> None:
    assert first.keys() == second.keys()
    for name, value in first.items():
        assert value.dtype == torch.float64, name
        difference = (value - second[name]).abs().max().item()
        assert difference <= tolerance, f"{name}: differs by {difference:.3g}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The LM and the classifier trained by one process and by two, global batch 5: shares
    of 3 and 2 (rows or examples), so a loss averaged per process instead of over the global
    batch would show."""
    root = tmp_path_factory.mktemp("distributed")
    corpus, labelled = _corpus(root / "corpus.txt"), _labelled(root / "labelled.tsv")
    for launch, name in ((_alone, "one"), (_on_two, "two")):
        for task, data in (("lm", corpus), ("classify", labelled)):
            _launch(launch(*_job(task, data, root / f"{task}_{name}", root / f"{task}_{name}")))
    return root


@pytest.mark.parametrize("task", ["lm", "classify"])
def test_two_processes_reach_the_weights_of_one(runs, task):
    one, two = _weights(runs / f"{task}_one"), _weights(runs / f"{task}_two")
    _assert_close(one, two)
    _assert_close(two, _weights(runs / f"{task}_two", rank=1), tolerance=0.0)


@pytest.mark.parametrize("task", ["lm", "classify"])
def test_the_first_process_writes_a_model_directory_that_evaluates_alike(runs, task):
    data = runs / ("corpus.txt" if task == "lm" else "labelled.tsv")
    one = rnnkit.load(runs / f"{task}_one").evaluate(data)
    two = rnnkit.load(runs / f"{task}_two").evaluate(data)
    assert one.keys() == two.keys()
    for name, value in one.items():
        if isinstance(value, float):
            assert two[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    metrics_one = (runs / f"{task}_one" / METRICS_FILE).read_text().splitlines()
    metrics_two = (runs / f"{task}_two" / METRICS_FILE).read_text().splitlines()
    assert len(metrics_one) == len(metrics_two) == 2  # one row per epoch, written once


def test_training_figures_are_the_global_ones(runs):
    for task in ("lm", "classify"):
        rows = [[json.loads(line) for line in (runs / f"{task}_{name}" / METRICS_FILE)
                 .read_text().splitlines()] for name in ("one", "two")]
        for row_one, row_two in zip(*rows):
            for key in ("train_loss", "valid_loss"):
                assert row_two[key] == pytest.approx(row_one[key], rel=1e-9), (task, key)


@pytest.mark.slow
def test_sentence_batches_train_as_in_one_process(runs, tmp_path):
    """LM sentences mode: shares of bucketed batches of padded sentences (97 training
    sentences in batches of 6: one of a single sentence, where the second process runs a
    stand-in), validation batches split between the processes."""
    for launch, name in ((_alone, "one"), (_on_two, "two")):
        _launch(launch(*_job("lm", runs / "corpus.txt", tmp_path / name, tmp_path / name,
                             "--mode", "sentences", "--batch-size", "6")))
    _assert_close(_weights(tmp_path / "one"), _weights(tmp_path / "two"))
    rows = [[json.loads(line) for line in (tmp_path / name / METRICS_FILE).read_text()
             .splitlines()] for name in ("one", "two")]
    for row_one, row_two in zip(*rows):
        assert row_two["valid_loss"] == pytest.approx(row_one["valid_loss"], rel=1e-9)


@pytest.mark.slow
def test_a_killed_process_resumes_to_the_uninterrupted_weights(runs, tmp_path):
    """Process 1 is killed after step 7 (checkpoints every 3 steps): torchrun takes the job
    down, the directory keeps the step-6 checkpoint, and a resumed launch ends where the
    uninterrupted two-process run ended; so does a resume by one process."""
    corpus = runs / "corpus.txt"
    job = _job("lm", corpus, tmp_path / "run", tmp_path / "final", "--checkpoint-every", "3",
               "--resume")
    killed = _launch(_on_two(*job, "--kill-step", "7"), check=False)
    assert killed.returncode != 0
    assert (tmp_path / "run" / STATE_FILE).is_file()
    alone_dir = tmp_path / "alone"
    _launch(["cp", "-r", str(tmp_path / "run"), str(alone_dir)])
    _launch(_on_two(*job))
    uninterrupted = _weights(runs / "lm_two")
    _assert_close(uninterrupted, _weights(tmp_path / "final"), tolerance=0.0)
    _launch(_alone(*_job("lm", corpus, alone_dir, tmp_path / "alone_final", "--resume")))
    _assert_close(uninterrupted, _weights(tmp_path / "alone_final"))


def _workers(launch: processes.Launch) -> list[int]:
    pid = launch.process.pid
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.slow
def test_a_command_line_run_keeps_its_checkpoint_when_a_process_is_killed(runs, tmp_path):
    out = tmp_path / "run"
    options = ["-m", "rnnkit", "train", "lm", "--out", str(out), "--quiet", "--threads", "1"]
    with processes.launched(
            _on_two(*options, "--data", str(runs / "corpus.txt"), "--hidden", "32", "--embed",
                    "32", "--layers", "1", "--batch-size", "4", "--bptt", "5", "--epochs",
                    "60", "--checkpoint-every", "5"),
            _environment(), merge_output=True) as launch:
        deadline = time.monotonic() + TIMEOUT
        while not (out / METRICS_FILE).is_file() and time.monotonic() < deadline:
            time.sleep(0.5)  # the first epoch's end: well past the first checkpoints
        workers = _workers(launch)
        assert len(workers) == 2
        os.kill(workers[1], signal.SIGKILL)
        returncode = launch.wait(TIMEOUT)
        output, _ = launch.output()
    assert returncode != 0
    assert f"the checkpoint in {out} is kept" in output
    assert (out / STATE_FILE).is_file()
    done = len((out / METRICS_FILE).read_text().splitlines())  # epochs ended before the kill
    _launch(_on_two(*options, "--resume", "--epochs", str(done + 1)))
    rows = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    assert [row["epoch"] for row in rows] == list(range(1, done + 2))


@pytest.mark.slow
def test_torchrun_max_restarts_resumes_by_itself(runs, tmp_path, monkeypatch):
    """The job restarts the killed run (its script resumes when a checkpoint is there) and
    ends with the uninterrupted weights. Restarted workers that share the launcher's store
    may read the killed attempt's addresses (pytorch/pytorch#135712): the variable below
    gives each attempt its own, as the README says."""
    monkeypatch.setenv("TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "1")
    job = _job("lm", runs / "corpus.txt", tmp_path / "run", tmp_path / "final",
               "--checkpoint-every", "3", "--resume", "--kill-step", "7")
    done = _launch(_torchrun("--standalone", "--nproc-per-node", "2", "--max-restarts", "1",
                             *job))
    assert "exitcode: -9" in done.stderr  # the first attempt lost process 1 (torchrun's log)
    _assert_close(_weights(runs / "lm_two"), _weights(tmp_path / "final"), tolerance=0.0)


@pytest.mark.slow
def test_two_nodes_on_loopback_train_together(runs, tmp_path):
    port = str(_free_port())
    job = _job("lm", runs / "corpus.txt", tmp_path / "run", tmp_path / "final")
    with contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(processes.launched(
            _torchrun("--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node", "1",
                      "--rdzv-endpoint", f"127.0.0.1:{port}", *job),
            _environment(), merge_output=True)) for rank in (0, 1)]
        for node in nodes:
            assert node.wait(TIMEOUT) == 0, node.output()[0][-3000:]
    _assert_close(_weights(runs / "lm_one"), _weights(tmp_path / "final"))
    _assert_close(_weights(tmp_path / "final"), _weights(tmp_path / "final", rank=1), 0.0)


@pytest.mark.slow
def test_the_command_line_trains_under_torchrun(runs, tmp_path):
    out = tmp_path / "cli"
    done = _launch(_on_two("-m", "rnnkit", "train", "lm", "--data", str(runs / "corpus.txt"),
                           "--out", str(out), "--hidden", "8", "--embed", "8", "--layers", "1",
                           "--batch-size", "4", "--bptt", "5", "--eval-batch-size", "2",
                           "--epochs", "1", "--max-steps", "6"))
    assert done.stdout.count("model saved in") == 1  # the first process reports
    assert "valid_loss" in (out / METRICS_FILE).read_text()
    refused = _launch(_on_two("-m", "rnnkit", "train", "lm", "--data", str(runs / "corpus.txt"),
                              "--out", str(out), "--batch-size", "1"), check=False)
    assert refused.returncode != 0


def _conll(path: Path) -> Path:
    # sentences of three shapes and lengths, so that tag paths gathered out of order would
    # not line up with the gold ones
    rng = random.Random(0)
    shapes = ["{person} B-PER\nlives O\nin O\n{place} B-LOC\n. O\n",
              "{person} B-PER\nruns O\n. O\n", "In O\n{place} B-LOC\nit O\nrains O\n. O\n"]
    sentences = [rng.choice(shapes).format(person=rng.choice(["John", "Mary"]),
                                           place=rng.choice(["Paris", "Rome"]))
                 for _ in range(24)]
    path.write_text("\n".join(sentences), encoding="utf-8")
    return path


def _pairs(path: Path) -> Path:
    pairs = ["I am here .\t我 在 这里 。", "She is happy .\t她 很 高兴 。", "He runs .\t他 跑 。"]
    path.write_text("\n".join(pairs * 8) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classify", "tag", "translate"])
def test_every_task_trains_under_torchrun_and_validates_as_one_process(task, tmp_path):
    """Without dropout two processes take one process's steps, and the validation split
    between them (loss sums added, predictions gathered) gives one process's figures: the
    loss, and the F1 or BLEU of the gathered tag paths or translations."""
    data = {"classify": _labelled, "tag": _conll, "translate": _pairs}[task](tmp_path / "data")
    rows = {}
    for launch, name in ((_alone, "one"), (_on_two, "two")):
        out = tmp_path / name
        _launch(launch("-m", "rnnkit", "train", task, "--data", str(data), "--out", str(out),
                       "--batch-size", "5", "--epochs", "2", "--hidden", "8", "--embed", "8",
                       "--dropout", "0", "--threads", "1", "--quiet"))
        rows[name] = [json.loads(line) for line in (out / METRICS_FILE).read_text()
                      .splitlines()]
    assert [row["epoch"] for row in rows["two"]] == [1, 2] and "valid_loss" in rows["two"][-1]
    assert rnnkit.load(tmp_path / "two").task == task
    for row_one, row_two in zip(rows["one"], rows["two"], strict=True):
        valid = sorted(key for key in row_one if key.startswith("valid_"))
        assert len(valid) >= 2 and valid == sorted(k for k in row_two if k.startswith("valid_"))
        for key in valid:
            assert row_two[key] == pytest.approx(row_one[key], rel=1e-5, abs=1e-7), key


@pytest.mark.slow
def test_gather_shares_joins_the_shares_of_two_processes_in_rank_order(tmp_path):
    script = tmp_path / "gather.py"
    script.write_text(
        "import sys\n"
        "from rnnkit.train import distributed\n"
        "with distributed.session():\n"
        "    own = list(range(5))[distributed.share(5)]\n"
        "    joined = distributed.gather_shares([f'item{i}' for i in own])\n"
        "    print(distributed.rank(), joined, flush=True)\n"
        "    sys.exit(joined != [f'item{i}' for i in range(5)])\n")
    done = _launch(_on_two(str(script)))
    assert done.stdout.count("['item0', 'item1', 'item2', 'item3', 'item4']") == 2


def test_share_splits_like_one_process(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    shares = []
    for rank in range(3):
        monkeypatch.setenv("RANK", str(rank))
        shares.append(list(range(8))[distributed.share(8)])
    assert shares == [[0, 1, 2], [3, 4, 5], [6, 7]]
    monkeypatch.setenv("RANK", "2")
    assert distributed.share_batch([5, 9], list) == distributed.Standin([5])
    assert distributed.global_loss_weight(3, 8) == pytest.approx(3 * 3 / 8)


def test_gather_shares_alone_is_the_list_itself():
    assert distributed.gather_shares(({"a": 1}, [2, 3])) == [{"a": 1}, [2, 3]]
    assert distributed.gather_shares([]) == []


def test_process_seeds_keep_the_first_and_differ_for_the_others():
    assert process_seed(7, 0) == 7
    assert len({process_seed(7, rank) for rank in range(4)}) == 4


def test_a_run_restarted_by_torchrun_resumes_instead_of_refusing(tmp_path, monkeypatch):
    from rnnkit.cli import main

    corpus, out = _corpus(tmp_path / "corpus.txt"), tmp_path / "run"
    command = ["train", "lm", "--data", str(corpus), "--out", str(out), "--hidden", "8",
               "--embed", "8", "--layers", "1", "--batch-size", "4", "--bptt", "5",
               "--epochs", "1", "--max-steps", "2", "--quiet", "--threads", "1"]
    assert main(command) == 0
    assert main(command) == 1  # a new run refuses the model directory
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert main([*command[:-4], "3", "--quiet", "--threads", "1"]) == 0
    rows = (out / METRICS_FILE).read_text().splitlines()
    assert [json.loads(row)["step"] for row in rows] == [2, 3]

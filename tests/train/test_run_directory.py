"""The run directory guard: refusals, the lock, stale temporaries, and undoing a failed run."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import rnnkit
from rnnkit.train import TrainingDiverged
from rnnkit.train.model_dir import MODEL_FILES, STATE_FILE, write_config
from rnnkit.train.run_directory import LOCK_FILE, RunDirectoryError, claim_run_directory

SOURCE = Path(rnnkit.__file__).parents[1]


def _model_directory(path: Path) -> Path:
    path.mkdir()
    write_config(path, "classify", {})
    (path / "labels.json").write_text("[]")
    (path / STATE_FILE).write_text("state")
    return path


def _listing(path: Path) -> dict[str, str]:
    return {str(entry.relative_to(path)): entry.read_text() for entry in sorted(path.rglob("*"))
            if entry.is_file()}


def test_a_new_run_creates_its_directory_and_leaves_no_lock(tmp_path):
    out = tmp_path / "runs" / "x"
    with claim_run_directory(out, resume=False) as claimed:
        assert claimed == out and (out / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        (out / "config.json").write_text("{}")
    assert [entry.name for entry in out.iterdir()] == ["config.json"]


def test_foreign_files_are_refused_untouched_even_with_overwrite(tmp_path):
    (tmp_path / "thesis.txt").write_text("years of work")
    (tmp_path / "config.json").write_text('{"mine": true}')
    before = _listing(tmp_path)
    for overwrite in (False, True):
        with pytest.raises(RunDirectoryError) as caught, \
                claim_run_directory(tmp_path, resume=False, overwrite=overwrite):
            pytest.fail("claimed")
        assert str(caught.value) == (
            f"--out {tmp_path} holds files that are not an rnnkit model directory "
            "(config.json, thesis.txt); choose an empty or new directory")
    assert _listing(tmp_path) == before


ENTRIES = MODEL_FILES | {"labels.json"}  # what the directories of a task writing labels hold


def test_a_model_directory_needs_overwrite_and_then_is_replaced(tmp_path):
    out = _model_directory(tmp_path / "model")
    before = _listing(out)
    with pytest.raises(RunDirectoryError, match="holds an rnnkit model; continue its run with "
                                                 "--resume, replace it with --overwrite"), \
            claim_run_directory(out, resume=False, entries=ENTRIES):
        pytest.fail("claimed")
    assert _listing(out) == before
    with claim_run_directory(out, resume=False, overwrite=True, entries=ENTRIES):
        assert [entry.name for entry in out.iterdir()] == [LOCK_FILE]


def test_overwrite_never_deletes_a_file_a_model_directory_does_not_hold(tmp_path):
    out = _model_directory(tmp_path / "model")
    (out / "notes.txt").write_text("mine")
    before = _listing(out)
    with pytest.raises(RunDirectoryError, match=r"holds an rnnkit model and other files "
                                                r"\(notes.txt\), which --overwrite never"), \
            claim_run_directory(out, resume=False, overwrite=True, entries=ENTRIES):
        pytest.fail("claimed")
    assert _listing(out) == before


def test_out_may_not_be_or_hold_an_input(tmp_path):
    data = tmp_path / "train.tsv"
    data.write_text("a\tb\n")
    with pytest.raises(RunDirectoryError, match=f"^--out {data} is the --data input; choose"), \
            claim_run_directory(data, resume=False, inputs=[("--data", data)]):
        pytest.fail("claimed")
    with pytest.raises(RunDirectoryError, match=f"^--out {tmp_path} holds the --valid input "
                                                f"{data}; choose a new directory"), \
            claim_run_directory(tmp_path, resume=False, overwrite=True,
                                inputs=[("--data", None), ("--valid", data)]):
        pytest.fail("claimed")
    assert data.read_text() == "a\tb\n"


def test_a_file_as_out_is_refused(tmp_path):
    (tmp_path / "x").write_text("x")
    with pytest.raises(RunDirectoryError, match="is a file, not a directory"), \
            claim_run_directory(tmp_path / "x", resume=False):
        pytest.fail("claimed")


HOLD = """
import sys, time
from rnnkit.train.run_directory import claim_run_directory
with claim_run_directory(sys.argv[1], resume=True):
    print("claimed", flush=True)
    time.sleep(60)
"""


def test_a_second_run_is_refused_while_the_first_holds_the_directory(tmp_path):
    out = _model_directory(tmp_path / "model")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(SOURCE)})
    try:
        assert holder.stdout.readline() == "claimed\n"
        for resume in (True, False):
            with pytest.raises(RunDirectoryError) as caught, \
                    claim_run_directory(out, resume=resume, overwrite=True):
                pytest.fail("claimed")
            assert str(caught.value) == (f"--out {out} is in use by another training (process "
                                         f"{holder.pid}); wait for it to end or choose another "
                                         "directory")
        holder.kill()  # a killed run leaves its lock file, but the OS has released the lock
        holder.wait(timeout=30)
        assert (out / LOCK_FILE).is_file()
        with claim_run_directory(out, resume=True):
            pass
        assert not (out / LOCK_FILE).exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_stale_temporaries_are_removed_on_claiming(tmp_path):
    out = _model_directory(tmp_path / "model")
    (out / ".trainer_state.safetensors.abcd1234.tmp").write_text("half")
    with claim_run_directory(out, resume=True):
        assert sorted(entry.name for entry in out.iterdir()) == sorted(
            ["config.json", "labels.json", STATE_FILE, LOCK_FILE])


@pytest.mark.parametrize("existed", [False, True])
def test_a_failed_new_run_leaves_nothing(tmp_path, existed):
    out = tmp_path / "runs" / "x"
    if existed:
        out.mkdir(parents=True)
    with pytest.raises(ValueError, match="bad input"), claim_run_directory(out, resume=False):
        (out / "vocab.json").write_text("{}")
        (out / "corpus").mkdir()
        raise ValueError("bad input")
    assert list(tmp_path.rglob("*")) == ([tmp_path / "runs", out] if existed else [])


@pytest.mark.parametrize("error", [KeyboardInterrupt(), TrainingDiverged("nan")])
def test_a_stopped_new_run_keeps_its_checkpoint_only_when_it_has_one(tmp_path, error):
    for checkpointed in (True, False):
        out = tmp_path / f"run-{checkpointed}"
        with pytest.raises(type(error)), claim_run_directory(out, resume=False):
            (out / "config.json").write_text("{}")
            if checkpointed:
                (out / STATE_FILE).write_text("state")
            raise error
        assert out.is_dir() == checkpointed


def test_a_run_of_several_processes_keeps_its_checkpoint_whatever_ended_it(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it
    for checkpointed in (True, False):
        out = tmp_path / f"run-{checkpointed}"
        with pytest.raises(RuntimeError), claim_run_directory(out, resume=False):
            (out / "config.json").write_text("{}")
            if checkpointed:
                (out / STATE_FILE).write_text("state")
            raise RuntimeError("Connection reset by peer")  # gloo, when a peer dies
        assert out.is_dir() == checkpointed


def test_a_failed_resume_removes_nothing(tmp_path):
    out = _model_directory(tmp_path / "model")
    before = _listing(out)
    with pytest.raises(ValueError), claim_run_directory(out, resume=True):
        raise ValueError("corrupt")
    assert _listing(out) == before


def test_sigterm_raises_keyboard_interrupt_while_claimed_then_the_handler_is_restored(tmp_path):
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"), \
            claim_run_directory(tmp_path / "x", resume=False):
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == previous
    assert not (tmp_path / "x").exists()


def test_every_file_a_task_writes_is_a_model_directory_entry(tiny_models):
    from rnnkit.tasks.contract import model_entries

    written = {path.name for name in ("lm", "classify", "tag", "translate")
               for path in tiny_models[name].iterdir()}
    assert written <= model_entries()

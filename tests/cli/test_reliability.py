"""No data lost, nothing half-built: what ``rnnkit train`` and ``rnnkit split`` refuse, what a
failed run leaves, and a full disk, each checked at the command line (exit status, the one-line
message, and the files before and after)."""

import errno
import json
import os
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.tasks import language_modeling
from rnnkit.train import model_dir
from rnnkit.train.model_dir import STATE_FILE, WEIGHTS_FILE, load_tensors

ROWS = ["great fun movie\tpos", "loved it\tpos", "dull bad movie\tneg", "hated it\tneg"] * 6
LINES = ["the cat sat on the mat", "a dog ran to the house", "the red cat ran"] * 10
LM = ["--embed", "8", "--hidden", "8", "--layers", "1", "--bptt", "4", "--batch-size", "2",
      "--eval-batch-size", "2", "--epochs", "2", "--optimizer", "adam", "--lr", "0.01",
      "--dropout", "0.2", "--quiet"]
CLASSIFY = ["--embed", "8", "--hidden", "8", "--epochs", "1", "--batch-size", "8", "--quiet"]


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES) + "\n")
    return path


def _files(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnkit: error: "), err
    return err[len("rnnkit: error: "):-1]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_new_run_never_writes_into_a_directory_of_other_files(tmp_path, corpus, capsys,
                                                                 overwrite):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "thesis.txt").write_text("four years")
    (out / "config.json").write_text('{"font": "serif"}')
    (out / "metrics.jsonl").write_text('{"pages": 212}\n')
    before = _files(out)
    assert main(["train", "lm", "--data", str(corpus), "--out", str(out), *LM,
                 *overwrite]) == 1
    assert _one_error(capsys) == (f"--out {out} holds files that are not an rnnkit model "
                                  "directory (config.json, metrics.jsonl, thesis.txt); choose "
                                  "an empty or new directory")
    assert _files(out) == before


def test_another_model_is_replaced_only_with_overwrite_and_entirely(tmp_path, corpus, capsys):
    data = tmp_path / "train.tsv"
    data.write_text("\n".join(ROWS) + "\n")
    out = tmp_path / "model"
    assert main(["train", "classify", "--data", str(data), "--out", str(out), *CLASSIFY]) == 0
    before = _files(out)
    assert {"labels.json", "valid_report.json"} <= before.keys()
    assert main(["train", "lm", "--data", str(corpus), "--out", str(out), *LM]) == 1
    assert _one_error(capsys) == (f"--out {out} holds an rnnkit model; continue its run with "
                                  "--resume, replace it with --overwrite, or choose an empty or "
                                  "new directory")
    assert _files(out) == before
    assert main(["train", "lm", "--data", str(corpus), "--out", str(out), *LM,
                 "--overwrite"]) == 0
    assert json.loads((out / "config.json").read_text())["task"] == "lm"
    assert not {"labels.json", "valid_report.json", "confusion.png"} & _files(out).keys()


def test_out_that_is_or_holds_an_input_is_refused(tmp_path, corpus, capsys):
    before = corpus.read_bytes()
    assert main(["train", "lm", "--data", str(corpus), "--out", str(corpus), *LM]) == 1
    assert _one_error(capsys) == f"--out {corpus} is the --data input; choose a new directory"
    valid = tmp_path / "run" / "valid.txt"
    valid.parent.mkdir()
    valid.write_text("the cat\n")
    assert main(["train", "lm", "--data", str(corpus), "--valid", str(valid), "--out",
                 str(valid.parent), *LM, "--overwrite"]) == 1
    assert _one_error(capsys) == (f"--out {valid.parent} holds the --valid input {valid}; "
                                  "choose a new directory")
    assert corpus.read_bytes() == before and valid.read_text() == "the cat\n"


@pytest.mark.parametrize("existed", [False, True])
def test_a_new_run_that_fails_on_its_inputs_leaves_nothing(tmp_path, corpus, capsys, existed):
    out = tmp_path / "runs" / "lm"
    if existed:
        out.mkdir(parents=True)
    assert main(["train", "lm", "--data", str(corpus), "--valid", str(tmp_path / "none.txt"),
                 "--out", str(out), *LM]) == 1
    assert "none.txt" in _one_error(capsys)
    assert sorted(tmp_path.rglob("*")) == [corpus] + ([tmp_path / "runs", out] if existed
                                                      else [])


def test_ctrl_c_before_the_first_checkpoint_keeps_nothing_and_says_so(tmp_path, corpus, capsys,
                                                                      monkeypatch):
    out = tmp_path / "run"

    def interrupted_while_preparing(data, model, train, out_dir, **options):
        (Path(out_dir) / "vocab.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(language_modeling.LANGUAGE_MODELING, "train",
                        interrupted_while_preparing)
    assert main(["train", "lm", "--data", str(corpus), "--out", str(out), *LM]) == 130
    assert capsys.readouterr().err == (f"rnnkit: interrupted before the first checkpoint; "
                                       f"nothing kept in {out}\n")
    assert not out.exists()


def test_a_full_disk_is_one_error_and_the_run_resumes_from_its_last_checkpoint(
        tmp_path, corpus, capsys, monkeypatch):
    assert main(["train", "lm", "--data", str(corpus), "--out", str(tmp_path / "a"), *LM]) == 0
    save_file, states = model_dir.save_file, []

    def full_at_the_third_checkpoint(tensors, filename, metadata=None):
        if ".trainer_state.safetensors." in filename:
            states.append(filename)
            if len(states) == 3:
                Path(filename).write_bytes(b"the first bytes")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        save_file(tensors, filename, metadata=metadata)

    monkeypatch.setattr(model_dir, "save_file", full_at_the_third_checkpoint)
    out = tmp_path / "b"
    assert main(["train", "lm", "--data", str(corpus), "--out", str(out), *LM,
                 "--checkpoint-every", "5"]) == 1
    assert _one_error(capsys) == (
        f"[Errno 28] could not write {out / STATE_FILE}: No space left on device (the previous "
        f"{STATE_FILE} is kept); training stopped, its last checkpoint is kept: free some "
        "space, then resume")
    assert not list(out.rglob(".*"))
    load_tensors(out / STATE_FILE)
    monkeypatch.setattr(model_dir, "save_file", save_file)
    assert main(["train", "lm", "--out", str(out), "--resume", "--quiet"]) == 0
    for name in (WEIGHTS_FILE, STATE_FILE):
        expected, got = load_tensors(tmp_path / "a" / name), load_tensors(out / name)
        assert all(got[key].equal(value) for key, value in expected.items()), name


def test_split_refuses_to_replace_its_input(tmp_path, capsys):
    data = tmp_path / "out" / "train.tsv"
    data.parent.mkdir()
    data.write_text("\n".join(ROWS[:30] + ROWS[:6]) + "\n")
    before = data.read_bytes()
    assert main(["split", str(data), "--out-dir", str(data.parent), "--overwrite"]) == 1
    assert _one_error(capsys) == (f"split: the output {data} is the input {data}; choose "
                                  "another --out-dir")
    assert data.read_bytes() == before
    assert [path.name for path in data.parent.iterdir()] == ["train.tsv"]


def test_split_replaces_existing_outputs_only_with_overwrite(tmp_path, capsys):
    data = tmp_path / "all.tsv"
    data.write_text("\n".join(ROWS) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.tsv").write_text("earlier work\n")
    assert main(["split", str(data), "--out-dir", str(out)]) == 1
    assert _one_error(capsys) == (f"split: {out / 'train.tsv'} exists; replace it with "
                                  "--overwrite or choose another --out-dir")
    assert _files(out) == {"train.tsv": b"earlier work\n"}
    assert main(["split", str(data), "--out-dir", str(out), "--overwrite"]) == 0
    assert len((out / "train.tsv").read_text().splitlines()) == 22
    assert len((out / "test.tsv").read_text().splitlines()) == 2

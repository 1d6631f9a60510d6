"""``rnnkit train tag``, ``predict`` and ``evaluate`` on a tiny CoNLL file."""

import json

import pytest
import torch

from rnnkit.cli import main

CONLL = ("John NNP B-PER\nlives VBZ O\nin IN O\nParis NNP B-LOC\n. . O\n\n"
         "Acme NNP B-ORG\nCorp NNP I-ORG\nhired VBD O\nMary NNP B-PER\n. . O\n\n") * 8


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cli_tag")
    (root / "train.conll").write_text(CONLL)
    assert main(["train", "tag", "--data", str(root / "train.conll"), "--valid",
                 str(root / "train.conll"), "--embed", "8", "--hidden", "8", "--char-features",
                 "6", "--epochs", "5", "--batch-size", "4", "--lr", "0.03", "--dropout", "0",
                 "--select", "loss", "--out", str(root / "model"), "--quiet"]) == 0
    yield root
    torch.set_num_threads(threads)


def test_predict_appends_a_tag_column_to_conll(trained, tmp_path, capsys):
    source = tmp_path / "in.conll"
    source.write_text("John NNP\nlives VBZ\nin IN\nParis NNP\n")
    assert main(["predict", str(trained / "model"), "--input", str(source)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == ["John NNP B-PER", "lives VBZ O", "in IN O", "Paris NNP B-LOC"]


def test_predict_text_as_json(trained, capsys):
    assert main(["predict", str(trained / "model"), "--text", "John lives in Paris.",
                 "--output-format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row == {"tokens": ["John", "lives", "in", "Paris", "."],
                   "tags": ["B-PER", "O", "O", "B-LOC", "O"],
                   "entities": [
                       {"type": "PER", "text": "John", "first": 0, "last": 0, "start": 0,
                        "end": 4},
                       {"type": "LOC", "text": "Paris", "first": 3, "last": 3, "start": 14,
                        "end": 19}]}


def test_evaluate_dispatches_to_the_tagger(trained, capsys):
    assert main(["evaluate", str(trained / "model"), "--data", str(trained / "train.conll"),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["f1"] == 1.0 and set(report["per_type"]) >= {"PER", "LOC", "ORG"}


def test_a_ragged_input_is_a_one_line_error(trained, tmp_path, capsys):
    ragged = tmp_path / "ragged.conll"
    ragged.write_text("Mary NNP\nlives\n")
    assert main(["predict", str(trained / "model"), "--input", str(ragged)]) == 1
    err = capsys.readouterr().err
    assert "ragged.conll:2: expected 2 columns" in err and err.count("\n") == 1


def test_word_dropout_reaches_the_model_config(tmp_path):
    (tmp_path / "train.conll").write_text(CONLL)
    assert main(["train", "tag", "--data", str(tmp_path / "train.conll"), "--valid",
                 str(tmp_path / "train.conll"), "--embed", "4", "--hidden", "4",
                 "--char-encoder", "none", "--epochs", "1", "--word-dropout", "0.2",
                 "--out", str(tmp_path / "model"), "--quiet"]) == 0
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["model"]["word_dropout"] == 0.2 and config["model"]["unk_id"] == 1


def test_the_summary_names_the_epoch_whose_weights_are_kept(tmp_path, capsys):
    (tmp_path / "train.conll").write_text(CONLL)
    assert main(["train", "tag", "--data", str(tmp_path / "train.conll"), "--valid",
                 str(tmp_path / "train.conll"), "--embed", "4", "--hidden", "4",
                 "--char-encoder", "none", "--epochs", "3", "--select", "f1",
                 "--out", str(tmp_path / "model")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    history = [json.loads(line) for line in (tmp_path / "model" / "metrics.jsonl").open()]
    best = max(history, key=lambda row: row["valid_f1"])
    assert out[-1].startswith(f"kept the weights of epoch {best['epoch']} (best valid f1)")
    assert "sentences/s" in "\n".join(out)


def test_train_test_prints_what_evaluate_prints(tmp_path, capsys):
    (tmp_path / "train.conll").write_text(CONLL)
    assert main(["train", "tag", "--data", str(tmp_path / "train.conll"), "--valid",
                 str(tmp_path / "train.conll"), "--embed", "4", "--hidden", "4", "--epochs", "1",
                 "--batch-size", "4", "--out", str(tmp_path / "model"), "--quiet", "--test",
                 str(tmp_path / "train.conll")]) == 0
    printed = capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "model"), "--data",
                 str(tmp_path / "train.conll")]) == 0
    assert capsys.readouterr().out == printed
    record = json.loads((tmp_path / "model" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["test"] == str(tmp_path / "train.conll") and "test_f1" in record

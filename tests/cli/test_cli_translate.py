"""``rnnkit train translate``, ``translate`` and ``evaluate`` on tiny pairs."""

import json

import torch

from rnnkit.cli import main

PAIRS = "I am happy.\t我很高兴。\nI am sad.\t我很难过。\nHe is tall.\t他很高。\n" * 8


def test_train_translate_and_evaluate(tmp_path, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        (tmp_path / "pairs.tsv").write_text(PAIRS)
        assert main(["train", "translate", "--data", str(tmp_path / "pairs.tsv"), "--valid",
                     str(tmp_path / "pairs.tsv"), "--embed", "16", "--hidden", "32",
                     "--attention", "luong", "--epochs", "12", "--batch-size", "8", "--lr",
                     "0.01", "--dropout", "0", "--out", str(tmp_path / "model"), "--quiet"]) == 0
        assert main(["translate", str(tmp_path / "model"), "--text", "I am sad.",
                     "--beam-width", "3"]) == 0
        assert capsys.readouterr().out == "我很难过。\n"
        assert main(["evaluate", str(tmp_path / "model"), "--data", str(tmp_path / "pairs.tsv"),
                     "--beam-width", "2", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["bleu"] > 99 and report["beam_width"] == 2
    finally:
        torch.set_num_threads(threads)


def test_train_test_prints_what_evaluate_prints(tmp_path, capsys):
    (tmp_path / "pairs.tsv").write_text(PAIRS)
    assert main(["train", "translate", "--data", str(tmp_path / "pairs.tsv"), "--valid",
                 str(tmp_path / "pairs.tsv"), "--embed", "4", "--hidden", "4", "--epochs", "1",
                 "--batch-size", "8", "--out", str(tmp_path / "model"), "--quiet", "--test",
                 str(tmp_path / "pairs.tsv")]) == 0
    printed = capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "model"), "--data", str(tmp_path / "pairs.tsv")]) == 0
    assert capsys.readouterr().out == printed
    record = json.loads((tmp_path / "model" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["test"] == str(tmp_path / "pairs.tsv") and "test_bleu" in record

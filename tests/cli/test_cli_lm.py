"""The rnnkit command line, end to end on a tiny corpus in a temporary directory."""

import json
import os
import re
import subprocess
import sys

import pytest

from rnnkit.cli import build_parser, main

TEXT = "to be or not to be .\nthat is the question .\n" * 40


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus.txt"
    corpus.write_text(TEXT)
    code = main(["train", "lm", "--data", str(corpus), "--out", str(root / "model"),
                 "--level", "char", "--embed", "8", "--hidden", "16", "--layers", "1",
                 "--epochs", "2", "--batch-size", "4", "--bptt", "10", "--optimizer", "adam",
                 "--lr", "0.01", "--quiet"])
    assert code == 0
    return root


def test_train_writes_a_model_directory(trained):
    names = {path.name for path in (trained / "model").iterdir()}
    assert {"config.json", "vocab.json", "model.safetensors", "trainer_state.safetensors",
            "metrics.jsonl", "loss.png"} <= names


def test_generate_prints_samples(trained, capsys):
    assert main(["generate", str(trained / "model"), "--prompt", "to be", "-n", "2",
                 "--max-tokens", "20", "--temperature", "0.8", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("to be") >= 2


def test_evaluate_reports_bits_per_char(trained, capsys):
    assert main(["evaluate", str(trained / "model"), "--data", str(trained / "corpus.txt"),
                 "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"loss", "ppl", "bpc", "tokens"} <= set(metrics)


def test_evaluate_takes_the_thread_count(trained, capsys):
    import torch

    threads = torch.get_num_threads()
    try:
        assert main(["evaluate", str(trained / "model"), "--data", str(trained / "corpus.txt"),
                     "--threads", "1", "--json"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert "loss" in json.loads(capsys.readouterr().out)


def test_the_command_line_leaves_openmp_and_the_plot_libraries_alone():
    """No OMP_WAIT_POLICY of its own (OpenMP's default serves a machine of one's own; see
    RESULTS, "Whole run against word_language_model"), and matplotlib, seqeval, sacrebleu and
    music21 load only when a plot, an entity score, BLEU or a tune is asked for."""
    probe = ("import os, sys, rnnkit.cli; print(os.environ.get('OMP_WAIT_POLICY'), "
             "sorted(m for m in ('matplotlib', 'seqeval', 'sklearn', 'sacrebleu', 'music21') "
             "if m in sys.modules))")
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, env=environment)
    assert result.stdout.split() == ["None", "[]"]


def test_inspect_writes_a_png(trained, tmp_path, capsys):
    out = tmp_path / "gates.png"
    assert main(["inspect", str(trained / "model"), "--text", "to be", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv,message", [
    (["generate", "{model}", "--temperature", "0"],
     "SamplingConfig: temperature must be a finite number > 0, got 0.0"),
    (["generate", "{model}", "--temperature", "-1"], "temperature must be a finite number > 0"),
    (["generate", "{root}/nowhere"], "does not exist"),
    (["train", "lm", "--out", "{root}/x"], "--data is required"),
    (["train", "lm", "--data", "{root}/none.txt", "--out", "{root}/y"], "No such file"),
    (["evaluate", "{model}", "--data", "{root}/corpus.txt", "--threads", "0"],
     "--threads must be at least 1, got 0"),
])
def test_errors_are_one_line_with_nonzero_exit(trained, capsys, argv, message):
    argv = [a.format(model=trained / "model", root=trained) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("rnnkit: error:") and message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_corrupt_weights_and_pickles_are_refused(trained, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained / "model", broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[:100])
    assert main(["generate", str(broken)]) == 1
    assert "corrupt or truncated" in capsys.readouterr().err
    (broken / "model.safetensors").write_bytes(b"\x80\x04K\x01.")
    assert main(["generate", str(broken)]) == 1
    assert "pickle" in capsys.readouterr().err
    config = (broken / "config.json").read_text()
    (broken / "config.json").write_text(config.replace('"tokenizer_config"', '"tok"'))
    assert main(["generate", str(broken)]) == 1
    assert "config.json is incomplete: no data.tokenizer_config" in capsys.readouterr().err
    (broken / "vocab.json").unlink()
    assert main(["generate", str(broken)]) == 1
    assert "missing vocab.json" in capsys.readouterr().err


def test_debug_shows_the_traceback(trained):
    with pytest.raises(ValueError):
        main(["--debug", "generate", str(trained / "model"), "--temperature", "0"])


@pytest.mark.parametrize("command", [["train", "lm"], ["generate"], ["evaluate"], ["inspect"],
                                     ["demo"]])
def test_every_command_explains_its_options(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: rnnkit" in capsys.readouterr().out


def test_console_script_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "rnnkit", "--version"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("rnnkit ")


def test_resume_after_a_step_limit_can_raise_the_limit(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)
    common = ["--out", str(tmp_path / "m"), "--quiet"]
    assert main(["train", "lm", "--data", str(corpus), "--level", "char", "--embed", "4",
                 "--hidden", "4", "--layers", "1", "--batch-size", "2", "--bptt", "8",
                 "--epochs", "1", "--max-steps", "3", *common]) == 0
    first = json.loads((tmp_path / "m" / "metrics.jsonl").read_text().splitlines()[-1])
    assert first["partial"] and first["step"] == 3
    assert main(["train", "lm", "--resume", "--max-steps", "0", *common]) == 0
    last = json.loads((tmp_path / "m" / "metrics.jsonl").read_text().splitlines()[-1])
    assert not last["partial"] and last["step"] > 3


def test_demo_banner_states_its_epochs_and_time_budget(monkeypatch, capsys, tmp_path):
    from rnnkit.tasks import language_modeling

    class Pipeline:
        def generate(self, *args, **kwargs):
            return ["text"]

    task = language_modeling.LANGUAGE_MODELING
    monkeypatch.setattr(task, "train", lambda *args, **kw: None)
    monkeypatch.setattr(task, "load", lambda out: Pipeline())
    assert main(["demo", "--out", str(tmp_path / "demo"), "--minutes", "0.5"]) == 0
    assert "learns Tiny Shakespeare for 3 epochs (at most 0.5 minutes)" in capsys.readouterr().out


def test_train_test_reports_what_evaluate_reports(tmp_path, capsys):
    corpus, test = tmp_path / "corpus.txt", tmp_path / "test.txt"
    corpus.write_text(TEXT)
    test.write_text("that is not the question .\nto be or not .\n" * 5)
    common = ["--out", str(tmp_path / "m"), "--quiet", "--test", str(test)]
    assert main(["train", "lm", "--data", str(corpus), "--level", "char", "--embed", "4",
                 "--hidden", "6", "--layers", "1", "--batch-size", "2", "--bptt", "8",
                 "--eval-batch-size", "3", "--epochs", "2", "--max-steps", "4", *common]) == 0
    printed = capsys.readouterr().out
    record = json.loads((tmp_path / "m" / "metrics.jsonl").read_text().splitlines()[-1])
    assert main(["evaluate", str(tmp_path / "m"), "--data", str(test), "--batch-size", "3",
                 "--bptt", "8"]) == 0
    assert capsys.readouterr().out == printed
    assert main(["evaluate", str(tmp_path / "m"), "--data", str(test), "--batch-size", "3",
                 "--bptt", "8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert record == {"test": str(test), **{f"test_{name}": value
                                            for name, value in report.items()}}
    assert main(["train", "lm", "--resume", "--max-steps", "0", *common]) == 0
    rows = [json.loads(line) for line in (tmp_path / "m" / "metrics.jsonl").open()]
    assert [row.get("test") for row in rows].count(str(test)) == 1
    assert rows[-1]["test"] == str(test)
    assert rows[-2]["epoch"] == 2 and not rows[-2]["partial"]
    assert capsys.readouterr().out.startswith("loss\t")


def test_under_torchrun_only_the_first_process_tests(monkeypatch, capsys):
    from rnnkit.cli import train as train_command
    from rnnkit.train import distributed

    tested = []
    monkeypatch.setattr(train_command, "run_training", lambda *args, **kwargs: 0)
    monkeypatch.setattr(train_command, "test_report", lambda task, args: tested.append(1) or "")
    args = build_parser().parse_args(["train", "lm", "--data", "x.txt", "--out", "m",
                                      "--test", "t.txt"])
    for rank, expected in (("1", []), ("0", [1])):
        monkeypatch.setenv("RANK", rank)
        monkeypatch.setenv("WORLD_SIZE", "2")
        assert distributed.is_main() == (rank == "0")
        assert train_command.run_train(args) == 0
        assert tested == expected


def test_generate_help_names_each_default_once_and_truly(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text and "(default: False)" not in text
    options = re.split(r"\n  (?=-)", text.split("options:")[1])[1:]  # one help per option
    assert len(options) == 12
    for option in options:
        if not option.startswith("-h"):
            assert " ".join(option.split()).count("default") == 1, option

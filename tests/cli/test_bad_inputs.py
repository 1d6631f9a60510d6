"""Bad inputs at the command line: each is exit status 1 with one line that says what was
wrong (naming the option, value, file or line), and nothing written or changed."""

import json
import os
import shutil
import threading

import pytest
import torch

from rnnkit.cli import main


def _fails(argv, capsys, message) -> str:
    """Run ``rnnkit argv``: exit 1 and one error line containing ``message``."""
    assert main([str(arg) for arg in argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnkit: error: "), err
    assert message in err, err
    return err


def _snapshot(directory):
    return {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def _copy_with_config(source, target, **changes):
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config.update(changes)
    for key in [key for key, value in changes.items() if value is None]:
        del config[key]
    (target / "config.json").write_text(json.dumps(config))
    return target


@pytest.mark.parametrize(("version", "message"), [
    (99, "has format version 99, written by a newer rnnkit; this rnnkit"),
    ("one", "'version' must be an integer from 1 to 1, got \"one\""),
    (None, "has no format version ('version')"),
])
def test_a_config_of_another_format_version_is_refused_by_every_command(
        tiny_models, tmp_path, capsys, version, message):
    for name, argv in [("lm", ["generate", "{dir}"]),
                       ("classify", ["predict", "{dir}", "--text", "great"]),
                       ("translate", ["translate", "{dir}", "--text", "i am happy ."])]:
        directory = _copy_with_config(tiny_models[name], tmp_path / f"{name}{version}",
                                      version=version)
        _fails([part.format(dir=directory) for part in argv], capsys, message)


def _train(task, data, out, *extra):
    return ["train", task, "--data", data, "--out", out, "--epochs", "1", "--embed", "4",
            "--hidden", "4", "--quiet", "--threads", "1", *extra]


LM_CORPUS = "the cat sat on the mat\n" * 40


@pytest.mark.parametrize(("task", "name", "content", "options", "message"), [
    ("classify", "train.tsv", "good film\tpos\nbad film\tneg\nso so\t \n", [],
     "train.tsv:3: the label is empty"),
    ("tag", "train.conll", "John\nlives\n\nParis\n", [],
     "the tokens and the tags are the same column (0) of the 1 column(s)"),
    ("lm", "corpus.txt", LM_CORPUS, ["--min-freq", "1000000"],
     ("no token occurs at least min_freq=1000000 times, so the vocabulary would hold only "
     "<pad>, <unk>, <s>, </s>; lower --min-freq")),
    ("lm", "corpus.txt", LM_CORPUS, ["--lr", "inf"],
     "TrainConfig: lr must be a finite number > 0, got inf"),
])
def test_a_run_refused_for_its_input_leaves_no_directory(tmp_path, capsys, task, name, content,
                                                        options, message):
    data = tmp_path / name
    data.write_text(content, encoding="utf-8")
    _fails(_train(task, data, tmp_path / "out", *options), capsys, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_cuda_device_without_cuda_is_one_line(tmp_path, capsys):
    data = tmp_path / "corpus.txt"
    data.write_text("the cat sat on the mat\n" * 40, encoding="utf-8")
    _fails(_train("lm", data, tmp_path / "out", "--device", "cuda"), capsys,
           "--device 'cuda': this torch")
    _fails(_train("lm", data, tmp_path / "out", "--device", "gpu0"), capsys,
           "--device 'gpu0' is not a device name (cpu, cuda, cuda:N)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("options", "message"), [
    (["--max-length", "-4"], ("translate: max_length must be an int >= 1 (or None for the "
                             "training limit), got -4")),
    (["--max-length", "0"], "max_length must be an int >= 1"),
    (["--length-penalty", "nan"], ("translate: length_penalty must be a finite number >= 0, "
                                  "got nan")),
    (["--beam-width", "0"], "translate: beam_width must be an int >= 1, got 0"),
])
def test_translation_options_out_of_range(tiny_models, capsys, options, message):
    _fails(["translate", tiny_models["translate"], "--text", "i am happy .", *options], capsys,
           message)


@pytest.mark.parametrize(("options", "message"), [
    (["--max-tokens", "10000000000000"], ("generate: max_tokens must be an int from 1 to "
                                         "1,000,000, got 10000000000000")),
    (["--greedy", "--temperature", "0.5"], ("generate: greedy decoding takes the most likely "
                                           "token; temperature=0.5 would not apply")),
    (["--greedy", "--top-k", "3", "--top-p", "0.9"], "top_k=3, top_p=0.9 would not apply"),
    (["-n", "100000000"], "generate: n must be an int from 1 to 1,000, got 100000000"),
])
def test_generation_options_out_of_range_or_in_conflict(tiny_models, capsys, options,
                                                        message):
    _fails(["generate", tiny_models["lm"], *options], capsys, message)


@pytest.mark.parametrize("units", ["0", "-3"])
def test_inspect_needs_a_positive_unit_count(tiny_models, tmp_path, capsys, units):
    _fails(["inspect", tiny_models["lm"], "--text", "the cat", "--units", units,
            "--out", tmp_path / "g.png"], capsys, f"inspect: --units must be >= 1, got {units}")
    assert not (tmp_path / "g.png").exists()


def test_utf16_input_names_the_encoding(tmp_path, capsys):
    data = tmp_path / "corpus.txt"
    data.write_bytes("the cat sat on the mat\n".encode("utf-16") * 40)
    _fails(_train("lm", data, tmp_path / "out"), capsys,
           f"{data}:1: this looks like UTF-16 text; rnnkit reads UTF-8: convert it first")


PIPED = {
    "lm": "the cat sat on the mat .\nthe dog ate the bone .\n" * 60,
    "classify": "great fun\tpos\ndull plot\tneg\n" * 20,
    "tag": "John B-PER\nlives O\n\nParis B-LOC\nis O\n\n" * 10,
    "translate": "i am happy .\t我很高兴。\nshe is sad .\t她很难过。\n" * 10,
}


@pytest.mark.parametrize("task", sorted(PIPED))
def test_training_data_from_a_pipe_is_read_whole(tmp_path, task):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)

    def write():
        with open(pipe, "w", encoding="utf-8") as handle:
            handle.write(PIPED[task])

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    extra = ["--bptt", "5", "--batch-size", "4"] if task == "lm" else ["--valid-fraction",
                                                                      "0.25"]
    if task == "translate":
        extra = [*extra, "--attention-size", "4"]
    assert main([str(arg) for arg in _train(task, pipe, tmp_path / "out", *extra)]) == 0
    writer.join(timeout=10)
    if task == "lm":  # all tokens and </s> of every line: both passes saw the whole corpus
        meta = json.loads((tmp_path / "out" / "corpus" / "meta.json").read_text())
        assert meta["count"] == 60 * (8 + 7)


def test_sentences_mode_names_the_part_that_has_no_sentence(tmp_path, capsys):
    data = tmp_path / "corpus.txt"
    data.write_text("just one line here\n", encoding="utf-8")
    _fails(_train("lm", data, tmp_path / "out", "--mode", "sentences", "--valid-fraction",
                  "0.5"), capsys,
           "sentences mode: the training part of the corpus has no non-empty sentence "
           "(without --valid, the last --valid-fraction of the corpus is held out")


@pytest.mark.parametrize("task", ["classify", "tag", "translate", "lm"])
def test_a_config_without_a_section_is_one_line(tiny_models, tmp_path, capsys, task):
    directory = _copy_with_config(tiny_models[task], tmp_path / task, data=None)
    _fails(["evaluate", directory, "--data", tmp_path / "x.txt"], capsys,
           "config.json is incomplete: no data")


def test_an_evaluate_option_of_another_task_is_refused(tiny_models, tmp_path, capsys):
    _fails(["evaluate", tiny_models["tag"], "--data", tmp_path / "x.conll", "--batch-size",
            "0"], capsys, "evaluate: --batch-size is for lm models; ")


def test_a_command_for_another_task_names_the_task(tiny_models, capsys):
    _fails(["translate", tiny_models["tag"], "--text", "hello"], capsys,
           "holds a 'tag' model; translate needs a translator ('translate')")
    _fails(["generate", tiny_models["classify"]], capsys,
           "holds a 'classify' model; generate needs a language model ('lm')")


def test_random_bytes_in_the_prepared_corpus_are_refused_on_resume(tmp_path, capsys):
    data = tmp_path / "corpus.txt"
    data.write_text("the cat sat on the mat .\n" * 60, encoding="utf-8")
    out = tmp_path / "out"
    assert main([str(arg) for arg in _train("lm", data, out, "--bptt", "5", "--batch-size",
                                            "4", "--eval-batch-size", "2",
                                            "--max-steps", "2")]) == 0
    tokens = out / "corpus" / "tokens.bin"
    tokens.write_bytes(b"\xff" * tokens.stat().st_size)  # id 65535, beyond any tiny vocabulary
    before = _snapshot(out)
    _fails(["train", "lm", "--out", out, "--resume", "--quiet"], capsys,
           "holds ids outside the vocabulary of")
    assert _snapshot(out) == before


@pytest.mark.parametrize("task", ["lm", "classify", "tag", "translate"])
def test_evaluate_on_a_missing_file_names_data(tiny_models, tmp_path, capsys, task):
    missing = tmp_path / "nothing.txt"
    _fails(["evaluate", tiny_models[task], "--data", missing], capsys,
           f"--data '{missing}': no such file or folder")

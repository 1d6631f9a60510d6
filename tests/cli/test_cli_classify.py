"""``rnnkit train classify``, ``predict``, ``evaluate`` and ``split`` end to end on tiny files."""

import json

import pytest
import torch

from rnnkit.cli import main
from rnnkit.tasks import classification as cls

ROWS = ["great fun movie\tpos", "loved it\tpos", "dull bad movie\tneg", "hated it\tneg"] * 6


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cli_classify")
    (root / "train.tsv").write_text("\n".join(ROWS) + "\n")
    code = main(["train", "classify", "--data", str(root / "train.tsv"), "--valid",
                 str(root / "train.tsv"), "--embed", "8", "--hidden", "8", "--epochs", "4",
                 "--batch-size", "8", "--lr", "0.03", "--dropout", "0", "--out",
                 str(root / "model"), "--quiet"])
    assert code == 0
    yield root
    torch.set_num_threads(threads)


def test_predict_text_prints_label_and_probabilities_as_tsv(trained, capsys):
    assert main(["predict", str(trained / "model"), "--text", "great fun", "--text",
                 "dull"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "label\tp(neg)\tp(pos)"
    assert [line.split("\t")[0] for line in lines[1:]] == ["pos", "neg"]


def test_predict_input_file_as_json_lines(trained, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("loved it\n\nhated it\n")
    assert main(["predict", str(trained / "model"), "--input", str(texts),
                 "--output-format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["text"] for row in rows] == ["loved it", "hated it"]
    assert [row["label"] for row in rows] == ["pos", "neg"]
    assert set(rows[0]["probabilities"]) == {"neg", "pos"}


def test_evaluate_dispatches_on_the_task_and_plots(trained, tmp_path, capsys):
    plot = tmp_path / "confusion.png"
    assert main(["evaluate", str(trained / "model"), "--data", str(trained / "train.tsv"),
                 "--json", "--plot", str(plot)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == 1.0 and report["examples"] == 24
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_several_classifiers_predict_and_evaluate_as_an_ensemble(trained, tmp_path, capsys):
    second = tmp_path / "second"
    assert main(["train", "classify", "--data", str(trained / "train.tsv"), "--valid",
                 str(trained / "train.tsv"), "--embed", "8", "--hidden", "8", "--epochs", "1",
                 "--batch-size", "8", "--seed", "1", "--out", str(second), "--quiet"]) == 0
    models = [str(trained / "model"), str(second)]
    capsys.readouterr()
    each = []
    for model in models:
        assert main(["predict", model, "--text", "loved it", "--output-format", "json"]) == 0
        each.append(json.loads(capsys.readouterr().out)["probabilities"]["pos"])
    assert main(["predict", *models, "--text", "loved it", "--output-format", "json"]) == 0
    averaged = json.loads(capsys.readouterr().out)["probabilities"]["pos"]
    assert each[0] != pytest.approx(each[1])
    assert averaged == pytest.approx((each[0] + each[1]) / 2, abs=1e-6)
    assert main(["evaluate", *models, "--data", str(trained / "train.tsv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 24


def test_an_ensemble_of_other_models_is_a_one_line_error(trained, tmp_path, capsys):
    lm_dir = tmp_path / "lm"
    lm_dir.mkdir()
    (lm_dir / "config.json").write_text(json.dumps({"format": "rnnkit.model", "version": 1,
                                                    "task": "lm"}))
    assert main(["evaluate", str(trained / "model"), str(lm_dir), "--data",
                 str(trained / "train.tsv")]) == 1
    err = capsys.readouterr().err
    assert "load: an ensemble's directories must hold models of one task; got " in err
    assert f"{lm_dir}: lm" in err and err.count("\n") == 1


def test_split_writes_a_seeded_held_out_file(tmp_path, capsys):
    data = tmp_path / "all.csv"
    data.write_text("label,review\n" + "".join(f'{i % 2},"text, number {i}"\n'
                                               for i in range(20)))
    assert main(["split", str(data), "--out-dir", str(tmp_path / "split"), "--seed", "1"]) == 0
    train = (tmp_path / "split" / "train.csv").read_text().splitlines()
    test = (tmp_path / "split" / "test.csv").read_text().splitlines()
    assert train[0] == test[0] == "label,review"
    assert len(train) == 19 and len(test) == 3
    assert sorted(train[1:] + test[1:]) == sorted(data.read_text().splitlines()[1:])


@pytest.mark.parametrize("argv,message", [
    (["predict", "{model}", "--text", ""], "--text: example 1 has no tokens"),
    (["predict", "{model}", "--input", "{root}/empty.txt"], "holds no text"),
    (["evaluate", "{model}", "--data", "{root}/unseen.tsv"], "never seen in training"),
    (["train", "classify", "--out", "{root}/x"], "--data is required"),
    (["train", "classify", "--data", "{root}/train.tsv", "--out", "{root}/y",
      "--max-length", "0"], "ClassificationData: max_length must be an int >= 1, got 0"),
])
def test_errors_are_one_line_with_nonzero_exit(trained, capsys, argv, message):
    (trained / "empty.txt").write_text("\n")
    (trained / "unseen.tsv").write_text("great\tneutral\n")
    argv = [arg.format(model=trained / "model", root=trained) for arg in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_predict_refuses_a_language_model_directory(tmp_path, capsys):
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "config.json").write_text(
        '{"format": "rnnkit.model", "version": 1, "task": "lm"}')
    assert main(["predict", str(tmp_path / "lm"), "--text", "hi"]) == 1
    assert "use 'rnnkit generate' for language models" in capsys.readouterr().err


def test_word_dropout_reaches_the_model_config(tmp_path, capsys):
    (tmp_path / "train.tsv").write_text("\n".join(ROWS) + "\n")
    assert main(["train", "classify", "--data", str(tmp_path / "train.tsv"), "--valid",
                 str(tmp_path / "train.tsv"), "--embed", "4", "--hidden", "4", "--epochs", "1",
                 "--word-dropout", "0.3", "--out", str(tmp_path / "model")]) == 0
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["model"]["word_dropout"] == 0.3 and config["model"]["unk_id"] == 1
    assert "examples/s" in capsys.readouterr().out


def test_word_dropout_out_of_range_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "train.tsv").write_text("\n".join(ROWS) + "\n")
    assert main(["train", "classify", "--data", str(tmp_path / "train.tsv"),
                 "--word-dropout", "1.5", "--out", str(tmp_path / "model")]) != 0
    err = capsys.readouterr().err
    assert "ClassifierConfig: word_dropout must be a number in [0, 1), got 1.5" in err
    assert err.count("\n") == 1


def test_subword_options_reach_the_model_and_predict_uses_them(tmp_path, capsys):
    (tmp_path / "train.tsv").write_text("\n".join(ROWS) + "\n")
    assert main(["train", "classify", "--data", str(tmp_path / "train.tsv"), "--valid",
                 str(tmp_path / "train.tsv"), "--embed", "4", "--hidden", "4", "--epochs", "1",
                 "--subword-buckets", "64", "--subword-ngrams", "2", "4", "--quiet",
                 "--out", str(tmp_path / "model")]) == 0
    model = json.loads((tmp_path / "model" / "config.json").read_text())["model"]
    assert (model["subword_buckets"], model["subword_min_n"], model["subword_max_n"]) == (64, 2, 4)
    assert main(["predict", str(tmp_path / "model"), "--text", "lovely movies"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "label\tp(neg)\tp(pos)"


@pytest.mark.parametrize("option,message", [
    (["--subword-buckets", "-1"], "subword_buckets must be an int >= 0"),
    (["--subword-buckets", "10", "--subword-ngrams", "5", "3"],
     "min_n=5 must not exceed max_n=3"),
])
def test_bad_subword_options_are_one_line_errors(tmp_path, capsys, option, message):
    (tmp_path / "train.tsv").write_text("\n".join(ROWS) + "\n")
    assert main(["train", "classify", "--data", str(tmp_path / "train.tsv"), *option,
                 "--out", str(tmp_path / "model")]) != 0
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_train_with_a_teacher_records_it_and_trains_on_spans_and_copies(trained, tmp_path, capsys):
    teacher = str(trained / "model")
    code = main(["train", "classify", "--data", str(trained / "train.tsv"), "--valid",
                 str(trained / "train.tsv"), "--embed", "8", "--hidden", "8", "--epochs", "1",
                 "--batch-size", "8", "--teacher", teacher, "--teacher", teacher,
                 "--span-samples", "2", "--masked-copies", "3", "--mask-prob", "0.25",
                 "--out", str(tmp_path / "student"), "--quiet"])
    assert code == 0
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["data"]["teachers"] == [teacher, teacher]
    assert (config["data"]["span_samples"], config["data"]["masked_copies"],
            config["data"]["mask_prob"]) == (2, 3, 0.25)
    steps = [json.loads(line) for line in (tmp_path / "student" / "metrics.jsonl").open()]
    assert steps[0]["step"] > len(ROWS) / 8  # the spans add batches to the epoch


@pytest.mark.parametrize("options,message", [
    (["--span-samples", "4"], "--span-samples 4 needs --teacher"),
    (["--masked-copies", "2"], "--masked-copies 2 needs --teacher"),
    (["--mask-prob", "0.2"], "--mask-prob 0.2 needs --teacher"),
    (["--teacher", "t", "--mask-prob", "0.2"], "--mask-prob 0.2 needs --masked-copies"),
])
def test_distillation_options_out_of_place_are_errors_and_write_nothing(tmp_path, capsys,
                                                                        options, message):
    (tmp_path / "train.tsv").write_text("\n".join(ROWS) + "\n")
    assert main(["train", "classify", "--data", str(tmp_path / "train.tsv"), *options,
                 "--out", str(tmp_path / "model")]) != 0
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "model").exists()


def test_a_teacher_without_span_samples_draws_the_default_count(trained, tmp_path):
    teacher = str(trained / "model")
    assert main(["train", "classify", "--data", str(trained / "train.tsv"), "--embed", "8",
                 "--hidden", "8", "--epochs", "1", "--teacher", teacher,
                 "--out", str(tmp_path / "student"), "--quiet"]) == 0
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["data"]["span_samples"] == cls.ClassificationData.span_samples == 8


def test_train_test_prints_what_evaluate_prints(tmp_path, capsys):
    (tmp_path / "train.tsv").write_text("\n".join(ROWS) + "\n")
    assert main(["train", "classify", "--data", str(tmp_path / "train.tsv"), "--valid",
                 str(tmp_path / "train.tsv"), "--embed", "4", "--hidden", "4", "--epochs", "1",
                 "--out", str(tmp_path / "model"), "--test", str(tmp_path / "train.tsv"),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "model"), "--data",
                 str(tmp_path / "train.tsv")]) == 0
    assert capsys.readouterr().out == printed
    record = json.loads((tmp_path / "model" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["test"] == str(tmp_path / "train.tsv") and "test_accuracy" in record

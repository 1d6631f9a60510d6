"""``rnnkit train lm --format abc``: a character model of ABC tunes, end to end on six tiny
tunes (a tiny model, one epoch), then loaded, resumed and evaluated on held-out tunes."""

import json

import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.data.abc import read_abc
from rnnkit.tasks.language_modeling import LANGUAGE_MODELING

TUNES = """\
% six tiny tunes, with the clutter real files have
Book of tiny tunes, printed for the test.

X:1
T:One
C:Trad.
M:4/4
L:1/8
K:G
GABc dedB|dedB \\
dedB|]

X:2
T:Two
M:6/8
L:1/8
K:D
fed cBA|d3 d3|]

X:3
T:Three
N:a note
M:3/4
L:1/8
K:Am
A2 B2 c2|e4 A2|]

X:4
T:Four
M:2/4
L:1/16
K:C
c4e4|g8|]
text between tunes

X:5
T:Five
M:4/4
L:1/8
K:Em
E2B2 E2B2|G4 E4|]

X:6
T:Six
M:6/8
L:1/8
K:G
GAB AGE|G3 G3|]
"""

TINY = ["--embed", "8", "--hidden", "16", "--layers", "1", "--batch-size", "2", "--bptt",
        "12", "--eval-batch-size", "1", "--optimizer", "adam", "--lr", "0.01", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("abc")
    (root / "tiny.abc").write_text(TUNES, encoding="utf-8")
    assert main(["train", "lm", "--format", "abc", "--data", str(root / "tiny.abc"),
                 "--valid-fraction", "0.34", "--out", str(root / "model"), "--epochs", "1",
                 *TINY]) == 0
    return root


def test_the_directory_records_an_abc_model_and_both_splits(trained):
    model = trained / "model"
    data = json.loads((model / "config.json").read_text())["data"]
    assert (data["format"], data["level"], data["abc_headers"]) == ("abc", "char", "strip")
    train = read_abc(model / "corpus" / "train.abc")
    held_out = read_abc(model / "corpus" / "valid.abc")
    assert (len(train), len(held_out)) == (4, 2)
    bodies = {tune.partition("\n")[2] for tune in read_abc(trained / "tiny.abc", "strip")}
    assert {tune.partition("\n")[2] for tune in train + held_out} == bodies
    assert "T:" not in (model / "corpus" / "train.abc").read_text()
    assert rnnkit.load(model).text_format == "abc"


def test_an_onnx_export_of_an_abc_model_is_an_abc_model(trained, capsys):
    pytest.importorskip("onnxruntime")
    from rnnkit.export import to_onnx

    export = trained / "model_onnx"
    to_onnx(trained / "model", export)
    pipeline = rnnkit.load(export)
    assert (pipeline.text_format, pipeline.level) == ("abc", "char")
    assert main(["evaluate", str(export), "--data", str(trained / "model" / "corpus" /
                                                           "valid.abc"), "--json"]) == 0
    onnx_bpc = json.loads(capsys.readouterr().out)["bpc"]
    assert main(["evaluate", str(trained / "model"), "--data", str(trained / "model" /
                                                                    "corpus" / "valid.abc"),
                 "--json"]) == 0
    assert onnx_bpc == pytest.approx(json.loads(capsys.readouterr().out)["bpc"], rel=1e-5)


def test_evaluate_scores_held_out_tunes_as_validation_did(trained, capsys):
    model = trained / "model"
    last = json.loads((model / "metrics.jsonl").read_text().splitlines()[-1])
    assert main(["evaluate", str(model), "--data", str(model / "corpus" / "valid.abc"),
                 "--batch-size", "1", "--bptt", "12", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bpc"] == pytest.approx(last["valid_bpc"], rel=1e-5)


def test_evaluate_reads_raw_tunes_as_the_model_was_trained(trained, capsys, tmp_path):
    held_out = (trained / "model" / "corpus" / "valid.abc").read_text()
    raw = tmp_path / "raw.abc"
    raw.write_text("% a comment\nfree text\n\n" + held_out.replace("M:", "T:A title\nM:"))
    scores = []
    for path in (trained / "model" / "corpus" / "valid.abc", raw):
        assert main(["evaluate", str(trained / "model"), "--data", str(path), "--json"]) == 0
        scores.append(json.loads(capsys.readouterr().out))
    assert scores[0] == scores[1]


def test_evaluate_errors_name_the_option_that_gave_the_path(trained, capsys, tmp_path):
    prose = tmp_path / "prose.abc"
    prose.write_text("no tune here\n", encoding="utf-8")
    for path, problem in ((tmp_path / "missing.abc", ": no such file or folder"),
                          (prose, " holds no ABC tune")):
        assert main(["evaluate", str(trained / "model"), "--data", str(path)]) == 1
        assert capsys.readouterr().err.startswith(f"rnnkit: error: --data '{path}'{problem}")
    with pytest.raises(ValueError, match=r"^--test '.*prose.abc' holds no ABC tune"):
        LANGUAGE_MODELING.test(trained / "model", prose)


def test_a_run_resumes(tmp_path):
    (tmp_path / "tiny.abc").write_text(TUNES, encoding="utf-8")
    out = ["--out", str(tmp_path / "m")]
    assert main(["train", "lm", "--format", "abc", "--data", str(tmp_path / "tiny.abc"),
                 "--abc-headers", "keep", "--epochs", "1", "--max-steps", "2", *out,
                 *TINY]) == 0
    assert main(["train", "lm", "--resume", "--max-steps", "0", *out, "--quiet"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "m" / "metrics.jsonl").open()]
    assert rows[-1]["epoch"] == 1 and not rows[-1]["partial"] and "valid_bpc" in rows[-1]
    assert "T:One" in (tmp_path / "m" / "corpus" / "train.abc").read_text() + \
        (tmp_path / "m" / "corpus" / "valid.abc").read_text()


def test_a_model_inside_the_data_folder_does_not_feed_the_next_run(tmp_path):
    data, other = tmp_path / "tunes", tmp_path / "other.abc"
    data.mkdir()
    (data / "tiny.abc").write_text(TUNES, encoding="utf-8")
    other.write_text(TUNES.replace("|]", "z2|]"), encoding="utf-8")
    steps = ["--epochs", "1", "--max-steps", "1", *TINY]
    for corpus, out in ((other, data / "first"), (data, data / "second")):
        assert main(["train", "lm", "--format", "abc", "--data", str(corpus), "--out",
                     str(out), *steps]) == 0
    corpus = data / "second" / "corpus"
    read = read_abc(corpus / "train.abc") + read_abc(corpus / "valid.abc")
    assert sorted(tune.partition("\n")[2] for tune in read) == sorted(
        tune.partition("\n")[2] for tune in read_abc(data / "tiny.abc", "strip"))


def test_without_data_the_bundled_folk_tunes_are_read(tmp_path, monkeypatch):
    from rnnkit.tasks import lm_abc

    asked = []
    monkeypatch.setattr(lm_abc, "bundled_folk_tunes",
                        lambda headers: asked.append(headers) or read_abc(
                            _written(tmp_path, TUNES), headers))
    monkeypatch.setattr("rnnkit.tasks.language_modeling.music21_corpus_folder",
                        lambda: tmp_path)
    assert main(["train", "lm", "--format", "abc", "--out", str(tmp_path / "m"),
                 "--epochs", "1", "--max-steps", "1", *TINY]) == 0
    assert asked == ["strip"]
    assert json.loads((tmp_path / "m" / "config.json").read_text())["data"]["corpus"] is None


def _written(directory, text):
    path = directory / "bundled.abc"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("argv, message", [
    (["--format", "abc", "--level", "word"], "character level, got level 'word'"),
    (["--format", "abc", "--tokenizer", "word"], "character level, got tokenizer 'word'"),
    (["--format", "abc", "--mode", "sentences"],
     "format 'abc' needs mode 'stream', got 'sentences'"),
    (["--abc-headers", "keep"], "abc_headers 'keep' applies to format 'abc'"),
    ([], "--data is required"),
])
def test_settings_that_do_not_fit_abc_are_refused(tmp_path, capsys, argv, message):
    data = ["--data", str(_written(tmp_path, TUNES))] if argv else []
    assert main(["train", "lm", *data, *argv, "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rnnkit: error: ") and message in err, err
    assert not (tmp_path / "m").exists()

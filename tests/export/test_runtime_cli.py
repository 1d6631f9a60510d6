"""``rnnkit predict|generate|translate|evaluate`` on an export directory answer as on the
source directory; what needs the PyTorch model is refused, naming why."""

import json

import pytest

from rnnkit.cli import main

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from rnnkit.export import to_onnx


@pytest.fixture(scope="module")
def exported(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_exports")
    for name in ("lm", "classify", "tag", "translate"):
        to_onnx(tiny_models[name], root / name)
    return {name: root / name for name in ("lm", "classify", "tag", "translate")}


def _both(capsys, tiny_models, exported, name, *arguments):
    outputs = []
    for directory in (tiny_models[name], exported[name]):
        assert main([arguments[0], str(directory), *arguments[1:]]) == 0
        outputs.append(capsys.readouterr().out)
    return outputs


@pytest.mark.parametrize("name, arguments", [
    ("lm", ["generate", "--prompt", "the", "--greedy", "--max-tokens", "8"]),
    ("classify", ["predict", "--text", "great fun", "--output-format", "json"]),
    ("tag", ["predict", "--text", "John lives in Paris"]),
    ("translate", ["translate", "--text", "I'm a teacher.", "--beam-width", "3"]),
])
def test_the_commands_answer_on_an_export_as_on_its_source(capsys, tiny_models, exported,
                                                           name, arguments):
    source, export = _both(capsys, tiny_models, exported, name, *arguments)
    if name == "classify":
        got, expected = json.loads(export), json.loads(source)
        assert got["label"] == expected["label"]
        assert got["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)
    else:
        assert export == source and export.strip()


@pytest.mark.parametrize("name, data", [("lm", "corpus.txt"), ("classify", "train.tsv"),
                                        ("tag", "train.conll"), ("translate", "pairs.tsv")])
def test_evaluate_on_an_export_gives_the_source_metrics(capsys, tiny_models, exported, name,
                                                        data):
    source, export = _both(capsys, tiny_models, exported, name, "evaluate", "--data",
                           str(tiny_models["root"] / data), "--json")
    got, expected = json.loads(export), json.loads(source)
    assert got.pop("loss", 0.0) == pytest.approx(expected.pop("loss", 0.0), rel=1e-5)
    if name == "lm":
        assert got == pytest.approx(expected, rel=1e-5)
    else:
        assert got == expected


def test_inspect_is_refused_on_an_export(capsys, exported, tmp_path):
    assert main(["inspect", str(exported["lm"]), "--text", "the cat",
                 "--out", str(tmp_path / "gates.png")]) == 1
    assert "export directory's graphs give no gate values" in capsys.readouterr().err


def test_the_server_serves_an_export_directory(tiny_models, exported):
    pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
    from fastapi.testclient import TestClient

    from rnnkit.serve.app import create_app
    from rnnkit.serve.settings import load_models

    with pytest.raises(ValueError, match="onnxruntime's CPU provider"):
        load_models([exported["classify"]], "cuda")
    pipelines = load_models([exported["classify"], exported["lm"]], "cpu")
    with TestClient(create_app(pipelines)) as client:
        answer = client.post("/v1/models/classify/predict", json={"texts": ["great fun"]})
        assert answer.status_code == 200
        assert answer.json()["results"][0]["label"] in ("pos", "neg")
        answer = client.post("/v1/models/lm/generate",
                             json={"prompt": "the", "max_tokens": 5, "greedy": True})
        assert answer.status_code == 200
        gates = client.post("/v1/models/lm/gates", json={"text": "the cat"})
        assert gates.status_code == 422 and "gate values" in gates.text

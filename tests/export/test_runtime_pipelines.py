"""Export directories loaded with ``rnnkit.load`` run the task's own pipeline on onnxruntime
and answer as the PyTorch directories do."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import rnnkit

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from rnnkit.export import to_onnx
from rnnkit.export.manifest import ExportDirectoryError
from rnnkit.export.runtime import DEVICE

TEXTS = ["a stirring , funny film", "dull and boring", "great fun"]
SENTENCES = ["John Smith lives in Paris .", "Mary visits London"]


@pytest.fixture(scope="module")
def exported(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    for name in ("lm", "classify", "classify2", "tag", "translate"):
        to_onnx(tiny_models[name], root / name)
    return {name: root / name for name in ("lm", "classify", "classify2", "tag", "translate")}


def test_greedy_generation_from_the_step_graph_gives_the_torch_tokens(tiny_models, exported):
    torch_lm, onnx_lm = rnnkit.load(tiny_models["lm"]), rnnkit.load(exported["lm"])
    assert onnx_lm.device == DEVICE and type(onnx_lm) is type(torch_lm)
    for prompt in ("the", "the dog", ""):
        assert onnx_lm.generate(prompt, max_tokens=12, greedy=True) == \
            torch_lm.generate(prompt, max_tokens=12, greedy=True)
    streamed = list(onnx_lm.generate_stream("the", max_tokens=12, greedy=True))
    assert streamed[-1] == torch_lm.generate("the", max_tokens=12, greedy=True)[0]
    seeded = onnx_lm.generate("the", n=3, max_tokens=8, temperature=0.9, top_k=5, seed=3)
    assert seeded == onnx_lm.generate("the", n=3, max_tokens=8, temperature=0.9, top_k=5,
                                      seed=3)


def test_scores_and_evaluate_match_the_source_directory(tiny_models, exported):
    torch_lm, onnx_lm = rnnkit.load(tiny_models["lm"]), rnnkit.load(exported["lm"])
    texts = ["the cat sat on the mat .", "the bone ate the dog"]
    for got, expected in zip(onnx_lm.score(texts), torch_lm.score(texts)):
        assert got["tokens"] == expected["tokens"]
        assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    corpus = tiny_models["root"] / "corpus.txt"
    for options in ({}, {"batch_size": 2, "bptt": 5}):
        got, expected = onnx_lm.evaluate(corpus, **options), torch_lm.evaluate(corpus, **options)
        assert got == pytest.approx(expected, rel=1e-5)


def test_classifier_probabilities_and_metrics_match(tiny_models, exported):
    for directories in (tiny_models["classify"],
                        [tiny_models["classify"], tiny_models["classify2"]]):
        exports = (exported["classify"] if not isinstance(directories, list)
                   else [exported["classify"], exported["classify2"]])
        torch_classifier, onnx_classifier = rnnkit.load(directories), rnnkit.load(exports)
        for got, expected in zip(onnx_classifier.predict(TEXTS), torch_classifier.predict(TEXTS)):
            assert got.label == expected.label
            np.testing.assert_allclose(list(got.probabilities.values()),
                                       list(expected.probabilities.values()), atol=1e-5)
        data = tiny_models["root"] / "train.tsv"
        got, expected = onnx_classifier.evaluate(data), torch_classifier.evaluate(data)
        assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)
        assert {k: v for k, v in got.items() if k != "loss"} == \
            {k: v for k, v in expected.items() if k != "loss"}


def test_tags_and_tagging_metrics_match(tiny_models, exported):
    torch_tagger, onnx_tagger = rnnkit.load(tiny_models["tag"]), rnnkit.load(exported["tag"])
    assert onnx_tagger.tag(SENTENCES) == torch_tagger.tag(SENTENCES)
    data = tiny_models["root"] / "train.conll"
    got, expected = onnx_tagger.evaluate(data), torch_tagger.evaluate(data)
    assert got.pop("loss") == pytest.approx(expected.pop("loss"), rel=1e-4)
    assert got == expected


def test_greedy_and_beam_translations_match(tiny_models, exported):
    torch_mt = rnnkit.load(tiny_models["translate"])
    onnx_mt = rnnkit.load(exported["translate"])
    sources = ["I'm a teacher.", "She is happy.", "Go."]
    for beam_width, penalty in ((1, 1.0), (3, 1.0), (4, 0.5)):
        assert onnx_mt.translate(sources, beam_width=beam_width, length_penalty=penalty) == \
            torch_mt.translate(sources, beam_width=beam_width, length_penalty=penalty)
    got = onnx_mt.translate(sources[0], return_attention=True)
    expected = torch_mt.translate(sources[0], return_attention=True)
    assert got.tokens == expected.tokens
    np.testing.assert_allclose(got.attention, expected.attention, atol=1e-5)
    data = tiny_models["root"] / "pairs.tsv"
    assert onnx_mt.evaluate(data, beam_width=2) == torch_mt.evaluate(data, beam_width=2)


def test_loading_and_running_each_export_never_imports_torch(tiny_models, exported):
    code = f"""
import sys, rnnkit
lm = rnnkit.load({str(exported['lm'])!r})
lm.generate("the", max_tokens=5, greedy=True); lm.score("the cat")
rnnkit.load({str(exported['classify'])!r}).predict("great fun")
rnnkit.load({str(exported['tag'])!r}).tag("John lives in Paris")
rnnkit.load({str(exported['translate'])!r}).translate("Go.", beam_width=2)
assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_a_config_that_does_not_match_the_graphs_is_refused(exported, tmp_path):
    copy = tmp_path / "classify"
    shutil.copytree(exported["classify"], copy)
    labels = copy / "labels.json"
    labels.write_text(json.dumps(["neg", "pos", "meh"]), "utf-8")
    with pytest.raises(ExportDirectoryError, match=r"labels.json.*3 there but the graph's "
                                                   r"probabilities has 2"):
        rnnkit.load(copy)


def test_an_export_runs_on_cpu_only_and_has_no_torch_model(exported):
    with pytest.raises(ValueError, match="device 'cuda'.*onnxruntime"):
        rnnkit.load(exported["lm"], device="cuda")
    lm = rnnkit.load(exported["lm"])
    with pytest.raises(AttributeError, match="no PyTorch model"):
        _ = lm.model
    with pytest.raises(ValueError, match="no gate values"):
        lm.trace_gates("the cat")
    assert lm.parameter_count > 0 and "onnxruntime" in repr(lm)

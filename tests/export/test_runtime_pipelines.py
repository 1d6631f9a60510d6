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
from rnnkit.export.backend import DEVICE
from rnnkit.export.manifest import ExportDirectoryError

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
    assert got.pop("loss") == pytest.approx(expected.pop("loss"), rel=1e-5)
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


def test_each_export_loads_and_runs_where_torch_cannot_be_imported(tiny_models, exported):
    code = f"""
import importlib.abc, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError("torch is not installed in this image")

sys.meta_path.insert(0, NoTorch())
import rnnkit
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


def test_tags_or_a_config_that_differ_from_the_graphs_are_refused(exported, tmp_path):
    tagger = tmp_path / "tag"
    shutil.copytree(exported["tag"], tagger)
    tags = json.loads((tagger / "tags.json").read_text("utf-8"))
    (tagger / "tags.json").write_text(json.dumps([*tags, "B-MISC"]), "utf-8")
    with pytest.raises(ExportDirectoryError, match=rf"tags.json.*{len(tags) + 1} there but the "
                                                   rf"graph's emissions has {len(tags)}"):
        rnnkit.load(tagger)
    lm = tmp_path / "lm"
    shutil.copytree(exported["lm"], lm)
    config = json.loads((lm / "config.json").read_text("utf-8"))
    config["model"]["hidden_size"] = 16
    (lm / "config.json").write_text(json.dumps(config), "utf-8")
    with pytest.raises(ExportDirectoryError, match=r"config.json does not match the exported "
                                                   r"graphs: model.hidden_size is 16 there but 8"):
        rnnkit.load(lm)


def test_an_ensemble_of_exports_holds_classifiers_only(exported, tiny_models):
    with pytest.raises(ValueError, match="ensemble of classifiers only"):
        rnnkit.load([exported["classify"], exported["tag"]])
    with pytest.raises(ExportDirectoryError, match="no export.json"):
        rnnkit.load([exported["classify"], tiny_models["classify2"]])


@pytest.fixture(scope="module")
def other_models(tiny_models, tmp_path_factory):
    """A softmax tagger without characters, a GRU character LM in sentence mode and a
    classifier with subword features: the export paths the tiny models leave out."""
    from rnnkit.tasks import classification, language_modeling, tagging
    from rnnkit.tasks.classification_data import ClassificationData
    from rnnkit.tasks.language_modeling import LMData
    from rnnkit.tasks.tagging import TaggingData
    from rnnkit.train import TrainConfig

    root, quick = tmp_path_factory.mktemp("other_models"), TrainConfig(epochs=1, lr=0.03)
    tagging.TAGGING.train(
        TaggingData(train=str(tiny_models["root"] / "train.conll"),
                    valid=str(tiny_models["root"] / "train.conll"), batch_size=4),
        {"embed_size": 8, "hidden_size": 8, "output": "softmax", "char_encoder": "none"},
        quick, root / "tag", quiet=True)
    language_modeling.LANGUAGE_MODELING.train(
        LMData(corpus=str(tiny_models["root"] / "corpus.txt"), level="char", mode="sentences",
               batch_size=4, bptt=8, eval_batch_size=2),
        {"embed_size": 8, "hidden_size": 8, "num_layers": 2, "cell": "gru"}, quick,
        root / "lm", quiet=True)
    labelled = tiny_models["root"] / "train.tsv"
    classification.CLASSIFICATION.train(
        ClassificationData(train=str(labelled), valid=str(labelled), batch_size=8),
        {"embed_size": 8, "hidden_size": 8, "subword_buckets": 50}, quick, root / "classify",
        quiet=True)
    for name in ("tag", "lm", "classify"):
        to_onnx(root / name, root / f"{name}_onnx")
    return root


def test_the_other_export_paths_answer_as_torch(other_models, tiny_models):
    tagger, onnx_tagger = (rnnkit.load(other_models / "tag"),
                           rnnkit.load(other_models / "tag_onnx"))
    assert onnx_tagger.tag(SENTENCES) == tagger.tag(SENTENCES)
    conll = tiny_models["root"] / "train.conll"
    got, expected = onnx_tagger.evaluate(conll), tagger.evaluate(conll)
    assert got.pop("loss") == pytest.approx(expected.pop("loss"), rel=1e-5)
    assert got == expected
    lm, onnx_lm = rnnkit.load(other_models / "lm"), rnnkit.load(other_models / "lm_onnx")
    assert onnx_lm.generate("the", max_tokens=20, greedy=True) == \
        lm.generate("the", max_tokens=20, greedy=True)
    corpus = tiny_models["root"] / "corpus.txt"
    assert onnx_lm.evaluate(corpus, batch_size=3, bptt=7) == \
        pytest.approx(lm.evaluate(corpus, batch_size=3, bptt=7), rel=1e-5)
    classifier = rnnkit.load(other_models / "classify")
    onnx_classifier = rnnkit.load(other_models / "classify_onnx")
    texts = ["a great fun movie", "never seen words here"]
    for got, expected in zip(onnx_classifier.predict(texts), classifier.predict(texts)):
        np.testing.assert_allclose(list(got.probabilities.values()),
                                   list(expected.probabilities.values()), atol=1e-5)


def test_without_the_onnx_package_the_parameter_count_is_unknown(exported, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx":
            raise ImportError("no onnx here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    classifier = rnnkit.load(exported["classify"])
    assert classifier.parameter_count is None and "parameters=unknown" in repr(classifier)


def test_an_export_given_as_a_distillation_teacher_is_named_as_such(exported):
    from rnnkit.tasks.distillation import load_teachers
    from rnnkit.train.directory import ModelDirectoryError

    with pytest.raises(ModelDirectoryError, match=r"teacher .*missing model\.safetensors.*ONNX "
                                                  r"export"):
        load_teachers([str(exported["classify"])], {}, ["neg", "pos"])


def test_an_exported_abc_model_stops_at_its_tune_s_end(abc_model, tmp_path):
    # the ONNX pipeline shares the generation code: its samples are tunes too
    export = tmp_path / "tunes_onnx"
    to_onnx(abc_model, export)
    pipeline = rnnkit.load(export)
    (tune,) = pipeline.sample_tunes("X:1", max_tokens=1000, temperature=0.1, seed=0)
    assert tune.ended and tune.abc.count("X:") == 1
    texts = list(pipeline.generate_stream("X:1", max_tokens=1000, temperature=0.1, seed=0))
    assert texts[-1] == pipeline.generate("X:1", max_tokens=1000, temperature=0.1,
                                          seed=0)[0] == tune.abc
    assert len(texts) < 1000

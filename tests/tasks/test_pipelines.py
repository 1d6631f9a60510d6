"""``rnnkit.load``: every task's directory round-trips to its pipeline, which takes a string
or a list alike, is described by ``task``/``config``/``labels``/``repr``, answers 8 threads
as it answers one, and refuses bad directories with one clear error."""

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import rnnkit
from rnnkit.tasks.classifier_pipeline import ClassifierPipeline, Prediction
from rnnkit.tasks.language_modeling import LanguageModelPipeline
from rnnkit.tasks.tagging import Entity, TaggerPipeline
from rnnkit.tasks.translation import Translation, TranslatorPipeline
from rnnkit.train.model_dir import ModelDirectoryError


def test_a_language_model_generates_and_scores(tiny_models):
    pipeline = rnnkit.load(tiny_models["lm"])
    assert isinstance(pipeline, LanguageModelPipeline) and pipeline.task == "lm"
    samples = pipeline.generate("the", n=2, max_tokens=5, seed=0)
    assert len(samples) == 2 and all(sample.startswith("the") for sample in samples)
    assert pipeline.generate(["the", "a"], n=2, max_tokens=5, seed=0)[0] == samples
    one = pipeline.score("the cat sat")
    assert set(one) == {"loss", "ppl", "tokens"} and one["tokens"] == 4
    assert pipeline.score(["the cat sat", "the dog"])[0] == one
    assert one["ppl"] == pytest.approx(np.exp(one["loss"]))
    assert pipeline.evaluate(tiny_models["root"] / "corpus.txt")["tokens"] > 0



@pytest.mark.parametrize("options", [{"seed": 0}, {"seed": 5, "temperature": 0.7, "top_p": 0.9},
                                     {"seed": 2, "top_k": 3}, {"greedy": True}])
def test_a_stream_ends_with_the_text_generate_gives_for_its_seed(tiny_models, options):
    pipeline = rnnkit.load(tiny_models["lm"])
    texts = list(pipeline.generate_stream("the", max_tokens=12, **options))
    assert texts[-1] == pipeline.generate("the", n=1, max_tokens=12, **options)[0]
    assert 1 <= len(texts) <= 12 and all(text.startswith("the") for text in texts)
    # the text after k tokens is the sample of k tokens: the same draws, step by step
    assert texts == [pipeline.generate("the", max_tokens=k, **options)[0]
                     for k in range(1, len(texts) + 1)]


def test_a_stream_checks_its_settings_when_called(tiny_models):
    pipeline = rnnkit.load(tiny_models["lm"])
    with pytest.raises(ValueError, match="max_tokens must be an int"):
        pipeline.generate_stream("the", max_tokens=0)
    with pytest.raises(ValueError, match="greedy decoding"):
        pipeline.generate_stream("the", greedy=True, top_p=0.5)
    with pytest.raises(TypeError, match="prompt must be a str, got list"):
        pipeline.generate_stream(["the"])

def test_a_classifier_predicts_a_string_and_a_list_alike(tiny_models):
    pipeline = rnnkit.load(tiny_models["classify"])
    assert isinstance(pipeline, ClassifierPipeline) and pipeline.labels == ["neg", "pos"]
    one = pipeline.predict("a great fun movie")
    assert isinstance(one, Prediction) and one.label in pipeline.labels
    assert pipeline.predict(["a great fun movie", "i hated it"])[0] == one
    assert pipeline.evaluate(tiny_models["root"] / "train.tsv")["examples"] == 24


def test_a_list_of_classifiers_is_an_ensemble_of_the_same_type(tiny_models):
    ensemble = rnnkit.load([tiny_models["classify"], tiny_models["classify2"]])
    assert type(ensemble) is ClassifierPipeline and len(ensemble.members) == 2
    texts = ["a great fun movie", "i hated it"]
    each = [rnnkit.load(tiny_models[name]).predict(texts) for name in ("classify", "classify2")]
    for averaged, first, second in zip(ensemble.predict(texts), *each):
        for label in ensemble.labels:
            assert averaged.probabilities[label] == pytest.approx(
                (first.probabilities[label] + second.probabilities[label]) / 2, abs=1e-6)
    assert "ensemble of 2" in repr(ensemble)
    with pytest.raises(ValueError, match="an ensemble's directories must hold models of one "
                                         "task; got .*classify: classify, .*tag: tag"):
        rnnkit.load([tiny_models["classify"], tiny_models["tag"]])
    with pytest.raises(ValueError, match="several model directories form an ensemble, which "
                                         "'tag' models do not"):
        rnnkit.load([tiny_models["tag"], tiny_models["tag"]])


def test_a_tagger_tags_texts_and_token_lists_with_entity_offsets(tiny_models):
    pipeline = rnnkit.load(tiny_models["tag"])
    assert isinstance(pipeline, TaggerPipeline) and "B-PER" in pipeline.labels
    text = "Mary Smith visited London."
    tagged = pipeline.tag(text)
    assert tagged.tokens == ["Mary", "Smith", "visited", "London", "."]
    assert len(tagged.tags) == 5
    for entity in tagged.entities:
        assert text[entity.start:entity.end] == entity.text
    assert pipeline.tag([text])[0] == tagged
    assert pipeline.tag([tagged.tokens])[0].tags == tagged.tags


def test_entities_follow_the_tags_with_character_offsets(tiny_models, monkeypatch):
    pipeline = rnnkit.load(tiny_models["tag"])
    monkeypatch.setattr(pipeline, "tag_tokens", lambda sentences, source="input": [
        ["B-PER", "I-PER", "O", "B-LOC", "O"]])
    assert pipeline.tag("Mary  Smith visited London.").entities == [
        Entity("PER", "Mary  Smith", 0, 1, 0, 11), Entity("LOC", "London", 3, 3, 20, 26)]
    assert pipeline.tag([["Mary", "Smith", "visited", "London", "."]])[0].entities == [
        Entity("PER", "Mary Smith", 0, 1, None, None), Entity("LOC", "London", 3, 3, None, None)]


def test_a_translator_translates_with_attention_on_request(tiny_models):
    pipeline = rnnkit.load(tiny_models["translate"])
    assert isinstance(pipeline, TranslatorPipeline)
    one = pipeline.translate("i am happy .")
    assert isinstance(one, str)
    assert pipeline.translate(["i am happy .", "she is sad ."])[0] == one
    assert pipeline.translate(["i am happy ."], beam_width=3)[0] == pipeline.translate(
        "i am happy .", beam_width=3)
    explained = pipeline.translate("i am happy .", return_attention=True)
    assert isinstance(explained, Translation) and explained.text == one
    assert explained.attention.shape == (len(explained.tokens) + 1, 4)
    np.testing.assert_allclose(explained.attention.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="beam_width must be an int >= 1, got 0"):
        pipeline.translate("i am happy .", beam_width=0)


@pytest.mark.parametrize("name", ["lm", "classify", "tag", "translate"])
def test_every_pipeline_describes_itself(tiny_models, name):
    pipeline = rnnkit.load(tiny_models[name])
    assert pipeline.task == name == pipeline.config["task"]
    assert repr(pipeline).startswith(f"{type(pipeline).__name__}(task={name!r}, "
                                     f"directory='{tiny_models[name]}', parameters=")
    assert f"parameters={pipeline.parameter_count:,}," in repr(pipeline)
    assert pipeline.parameter_count == sum(p.numel() for p in pipeline.model.parameters())
    sizes = pipeline.vocabulary_sizes
    assert set(sizes) == {"lm": {"tokens"}, "classify": {"words"}, "tag": {"words", "chars"},
                          "translate": {"source", "target"}}[name]
    assert all(isinstance(size, int) and size > 4 for size in sizes.values())


def test_an_ensemble_counts_every_member(tiny_models):
    ensemble = rnnkit.load([tiny_models["classify"], tiny_models["classify2"]])
    single = rnnkit.load(tiny_models["classify"])
    assert ensemble.parameter_count == 2 * single.parameter_count
    assert set(ensemble.vocabulary_sizes) == {"words", "words_2"}


def test_eight_threads_get_the_answers_of_sequential_calls(tiny_models):
    lm, classifier = rnnkit.load(tiny_models["lm"]), rnnkit.load(tiny_models["classify"])
    tagger, translator = rnnkit.load(tiny_models["tag"]), rnnkit.load(tiny_models["translate"])
    calls = [
        lambda: lm.generate("the", n=2, max_tokens=6, seed=3),
        lambda: lm.score(["the cat sat", "the dog"]),
        lambda: classifier.predict(["a great fun movie", "i hated it", "dull"]),
        lambda: tagger.tag(["John lives in Paris .", "Mary visited London ."]),
        lambda: translator.translate(["i am happy .", "he is here ."], beam_width=2),
    ] * 8
    sequential = [call() for call in calls]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda call: call(), calls))
    assert concurrent == sequential
    assert not any(pipeline.model.training for pipeline in (lm, classifier, tagger, translator))


def test_bad_directories_are_one_clear_error(tiny_models, tmp_path):
    with pytest.raises(ModelDirectoryError, match="model directory .*nowhere does not exist"):
        rnnkit.load(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="device 'meta': rnnkit runs on cpu or cuda, not meta"):
        rnnkit.load(tiny_models["classify"], device="meta")
    with pytest.raises(ValueError, match="expected a model directory or a list of them, got "
                                         "an empty list"):
        rnnkit.load([])
    for name, change, message in [
        ("future", {"version": 99}, ("has format version 99, written by a newer rnnkit; this "
                                    "rnnkit .* reads versions up to 1: upgrade rnnkit")),
        ("words", {"version": "one"}, "'version' must be an integer from 1 to 1, got \"one\""),
        ("none", {"version": None}, "has no format version"),
        ("task", {"task": "poetry"}, ('holds a model of task "poetry", which this rnnkit does '
                                     "not know")),
    ]:
        directory = tmp_path / name
        shutil.copytree(tiny_models["classify"], directory)
        config = json.loads((directory / "config.json").read_text())
        config.update(change)
        if change.get("version", 1) is None:
            del config["version"]
        (directory / "config.json").write_text(json.dumps(config))
        with pytest.raises(ModelDirectoryError, match=message):
            rnnkit.load(directory)

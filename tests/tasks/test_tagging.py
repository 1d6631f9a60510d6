"""Tagging end to end on a tiny CoNLL file: overfit, save/load/tag, evaluate, bad input."""

import pytest
import torch

from rnnkit.data import read_conll_tokens
from rnnkit.tasks import tagging
from rnnkit.train import TrainConfig
from tests.tasks.shares import evaluate_as_two_processes

SENTENCES = [
    ("John lives in Paris .", "B-PER O O B-LOC O"),
    ("Mary Smith visited Berlin .", "B-PER I-PER O B-LOC O"),
    ("Acme Corp hired John .", "B-ORG I-ORG O B-PER O"),
    ("Paris is big .", "B-LOC O O O"),
]


def _conll(path, repeat=5):
    text = "-DOCSTART- -X- O\n\n"
    for words, tags in SENTENCES * repeat:
        text += "".join(f"{w} NNP {t}\n" for w, t in zip(words.split(), tags.split())) + "\n"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tag")
    data = tagging.TaggingData(train=str(_conll(root / "train.conll")),
                               valid=str(root / "train.conll"), batch_size=4)
    model = {"embed_size": 16, "hidden_size": 16, "char_features": 10, "dropout": 0.0}
    trainer = tagging.TAGGING.train(data, model, TrainConfig(epochs=5, optimizer="adam", lr=0.03),
                                   root / "model", quiet=True)
    yield root, trainer
    torch.set_num_threads(threads)


def test_a_tiny_dataset_is_overfit(trained):
    _, trainer = trained
    assert trainer.history[-1]["valid_f1"] == 1.0


def test_the_scheme_is_detected_and_stored(trained):
    loaded = tagging.TAGGING.load(trained[0] / "model")
    assert loaded.model.config.scheme == "BIO"
    assert loaded.vocabs.tags == ["B-LOC", "B-ORG", "B-PER", "I-ORG", "I-PER", "O"]


def test_tagging_on_the_saved_directory(trained):
    loaded = tagging.TAGGING.load(trained[0] / "model")
    assert loaded.tag_tokens([["Mary", "Smith", "visited", "Paris", "."]]) == [
        ["B-PER", "I-PER", "O", "B-LOC", "O"]]


def test_evaluate_reports_entity_f1_per_type(trained):
    report = tagging.TAGGING.load(trained[0] / "model").evaluate(trained[0] / "train.conll")
    assert report["f1"] == 1.0 and report["sentences"] == 20
    assert report["per_type"]["PER"]["support"] == 15


def test_unseen_tags_are_a_clear_error(trained, tmp_path):
    bad = tmp_path / "bad.conll"
    bad.write_text("Paris NNP B-GPE\n")
    with pytest.raises(ValueError, match=r"labels \['B-GPE'\] were never seen in training"):
        tagging.TAGGING.load(trained[0] / "model").evaluate(bad)


def test_a_ragged_column_names_file_and_line(tmp_path):
    ragged = tmp_path / "ragged.conll"
    ragged.write_text("John NNP B-PER\nlives O\n")
    with pytest.raises(ValueError, match=r"ragged.conll:2: expected 3 columns"):
        read_conll_tokens(ragged)
    with pytest.raises(ValueError, match=r"ragged.conll:2: expected 3 columns"):
        tagging.TAGGING.train(tagging.TaggingData(train=str(ragged), valid=str(ragged)), {},
                             TrainConfig(epochs=1), tmp_path / "model", quiet=True)


def test_empty_inputs_are_errors(trained, tmp_path):
    loaded = tagging.TAGGING.load(trained[0] / "model")
    with pytest.raises(ValueError, match="no sentences to tag"):
        loaded.tag_tokens([])
    with pytest.raises(ValueError, match="sentence 2 has no tokens"):
        loaded.tag_tokens([["Paris"], []])
    empty = tmp_path / "empty.conll"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="holds no sentences"):
        read_conll_tokens(empty)


def test_bioes_tags_select_the_bioes_scheme():
    assert tagging.detect_scheme(["O", "S-PER", "B-LOC", "E-LOC"]) == "BIOES"
    assert tagging.detect_scheme(["O", "B-LOC", "I-LOC"]) == "BIO"
    assert tagging.detect_scheme(["NN", "VB"]) == "none"


def test_validation_is_split_into_shares_that_make_the_whole_set(trained, monkeypatch):
    """As process 0 and 1 of 2: each scores its share; their loss sums add up to one
    process's loss, and their tag paths, joined in rank order, are one process's."""
    _, trainer = trained
    task, model = trainer.task, trainer.model
    alone = task.evaluate(model)
    whole = tagging.decode_all(tagging.TorchTaggerBackend(model), task.valid.words,
                               task.valid.chars)
    sums, paths = evaluate_as_two_processes(task, model, monkeypatch)
    assert [len(share) for share in paths] == [len(whole) // 2, len(whole) - len(whole) // 2]
    assert paths[0] + paths[1] == whole
    total, count = (sum(parts) for parts in zip(*sums))
    assert total / count == pytest.approx(alone["loss"], rel=1e-6)

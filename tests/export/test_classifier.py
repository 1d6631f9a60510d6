"""The classifier graph in onnxruntime against the PyTorch eval forward: every pooling kind,
one and two directions, subword features."""

import pytest

onnxruntime = pytest.importorskip("onnxruntime")

import torch

from rnnkit.export.classifier import classifier_graphs
from rnnkit.models import Classifier, ClassifierConfig
from rnnkit.models.classifier import POOLINGS
from tests.export.parity import SHAPES, TOLERANCE, max_difference, padded_ids, run

VOCAB = 17


def build(**options) -> Classifier:
    torch.manual_seed(0)
    return Classifier(ClassifierConfig(
        vocab_size=VOCAB, **{"num_classes": 3, "embed_size": 5, "hidden_size": 4,
                             "attention_size": 3, **options})).eval()


def check(model: Classifier, lengths: list[int], subwords: torch.Tensor | None = None,
          seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    ids, lengths_tensor = padded_ids(lengths, VOCAB, generator)
    extra = {} if subwords is None else {"subwords": subwords}
    outputs = run(classifier_graphs(model)["classifier"], ids=ids, lengths=lengths_tensor,
                  **extra)
    with torch.no_grad():
        expected = model(ids, lengths_tensor, **extra).logits.softmax(dim=-1)
    assert max_difference(outputs["probabilities"], expected) <= TOLERANCE


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [True, False], ids=["bidirectional", "forward"])
@pytest.mark.parametrize("lengths", SHAPES.values(), ids=SHAPES)
def test_each_pooling_matches_the_forward(pooling, bidirectional, lengths):
    check(build(pooling=pooling, bidirectional=bidirectional, num_layers=2), lengths)


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_other_cells(cell):
    check(build(cell=cell, pooling="last"), SHAPES["lengths all different, unsorted"])


@pytest.mark.parametrize("pooling", ["last", "max"])
def test_a_layer_that_exports_as_a_scan(pooling):
    check(build(pooling=pooling, rnn_options={"layer_norm": True, "zoneout": 0.1}),
          SHAPES["lengths all different, unsorted"])


@pytest.mark.parametrize("lengths", SHAPES.values(), ids=SHAPES)
def test_subword_features(lengths):
    """Subword bags average the real n-grams only; a token without any adds nothing."""
    model = build(subword_buckets=11, pooling="mean")
    generator = torch.Generator().manual_seed(4)
    subwords = torch.randint(0, 12, (len(lengths), max(lengths), 3), generator=generator)
    subwords[0, 0] = 0  # a token without n-grams
    check(model, lengths, subwords)


def test_subwords_are_an_input_only_with_subword_features():
    assert classifier_graphs(build())["classifier"].spec.input_names() == ["ids", "lengths"]
    assert classifier_graphs(build(subword_buckets=5))["classifier"].spec.input_names() == [
        "ids", "lengths", "subwords"]

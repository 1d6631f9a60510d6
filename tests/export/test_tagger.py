"""The tagger graph in onnxruntime against the PyTorch eval forward: with and without a CRF,
without characters, with the character CNN and the character BiLSTM."""

import pytest

onnxruntime = pytest.importorskip("onnxruntime")

import numpy as np
import torch

from rnnkit.export.tagger import crf_arrays, tagger_graphs
from rnnkit.models import Tagger, TaggerConfig
from tests.export.parity import SHAPES, TOLERANCE, max_difference, padded_ids, run

VOCAB, CHARS = 15, 9
TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
ENCODERS = {"words only": {"char_encoder": "none"},
            "char CNN": {"char_encoder": "cnn", "char_kernel": 3},
            "char CNN, even kernel": {"char_encoder": "cnn", "char_kernel": 2},
            "char BiLSTM": {"char_encoder": "lstm"}}


def build(**options) -> Tagger:
    torch.manual_seed(0)
    return Tagger(TaggerConfig(
        vocab_size=VOCAB, tags=TAGS, **{"char_vocab_size": CHARS, "embed_size": 5,
                                        "hidden_size": 4, "char_embed_size": 3,
                                        "char_features": 4, **options})).eval()


def random_chars(ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``(B, T, W)`` character ids: words of 1 to 4 characters, padding words all 0."""
    batch, steps = ids.shape
    chars = torch.randint(1, CHARS, (batch, steps, 4), generator=generator)
    word_lengths = torch.randint(1, 5, (batch, steps), generator=generator)
    chars[torch.arange(4).view(1, 1, 4) >= word_lengths.unsqueeze(2)] = 0
    chars[ids == 0] = 0
    return chars


@pytest.mark.parametrize("output", ["crf", "softmax"])
@pytest.mark.parametrize("encoder", ENCODERS.values(), ids=ENCODERS)
@pytest.mark.parametrize("lengths", SHAPES.values(), ids=SHAPES)
def test_emissions_match_the_forward(output, encoder, lengths):
    model = build(output=output, **encoder)
    generator = torch.Generator().manual_seed(1)
    ids, lengths_tensor = padded_ids(lengths, VOCAB, generator)
    extra = {} if model.chars is None else {"chars": random_chars(ids, generator)}
    outputs = run(tagger_graphs(model)["tagger"], ids=ids, lengths=lengths_tensor, **extra)
    with torch.no_grad():
        expected = model(ids, lengths_tensor, **extra).emissions
    assert max_difference(outputs["emissions"], expected) <= TOLERANCE


def test_crf_arrays_are_the_scores_the_model_decodes_with():
    model = build(output="crf")
    with torch.no_grad():
        model.crf.transitions.normal_()
    arrays = crf_arrays(model)
    for name, expected in zip(("transitions", "start", "end"), model.crf.scores()):
        assert arrays[name].dtype == np.float32
        np.testing.assert_array_equal(arrays[name], expected.detach().numpy())
    assert arrays["transitions"][0, TAGS.index("I-PER")] == -10000.0  # O → I-PER forbidden
    assert crf_arrays(build(output="softmax")) is None


def test_chars_are_an_input_only_with_a_char_encoder():
    assert tagger_graphs(build(char_encoder="none"))["tagger"].spec.input_names() == [
        "ids", "lengths"]
    assert tagger_graphs(build())["tagger"].spec.input_names() == ["ids", "lengths", "chars"]

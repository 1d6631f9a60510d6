"""Tagger: character encoders, CRF and softmax outputs, padding invariance, config errors."""

import pytest
import torch

from rnnkit.models.tagger import CharCNN, CharLSTM, Tagger, TaggerConfig

TAGS = ("O", "B-PER", "I-PER")


def _model(**options):
    torch.manual_seed(0)
    config = TaggerConfig(vocab_size=10, tags=TAGS, char_vocab_size=8, embed_size=6,
                          hidden_size=5, char_features=4, dropout=0.0, **options)
    return Tagger(config).eval()


@pytest.mark.parametrize("encoder", [CharCNN(8, 5, 4, 3), CharLSTM(8, 5, 4)])
def test_char_features_ignore_character_padding(encoder):
    encoder.eval()
    word = torch.tensor([[[3, 4, 5]]])
    padded = torch.tensor([[[3, 4, 5, 0, 0]]])
    torch.testing.assert_close(encoder(padded), encoder(word), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("output", ["crf", "softmax"])
@pytest.mark.parametrize("char_encoder", ["cnn", "lstm", "none"])
def test_padding_does_not_change_the_decoded_tags_or_scores(output, char_encoder):
    model = _model(output=output, char_encoder=char_encoder)
    words = torch.tensor([[4, 5, 6, 0], [7, 8, 9, 4]])
    chars = torch.randint(1, 8, (2, 4, 3))
    chars[0, 3] = 0
    lengths = torch.tensor([3, 4])
    alone = model(words[:1, :3], lengths[:1], chars[:1, :3]).emissions
    torch.testing.assert_close(model(words, lengths, chars).emissions[:1, :3], alone,
                               rtol=1e-5, atol=1e-6)
    paths = model.decode(words, lengths, chars)
    assert [len(path) for path in paths] == [3, 4]
    assert paths[0] == model.decode(words[:1, :3], lengths[:1], chars[:1, :3])[0]


def test_crf_output_obeys_bio_constraints():
    model = _model(output="crf", char_encoder="none")
    with torch.no_grad():
        model.output.bias.copy_(torch.tensor([0.0, 0.0, 50.0]))  # I-PER wins every step alone
    path = model.decode(torch.tensor([[4, 5, 6]]), torch.tensor([3]))[0]
    assert [TAGS[i] for i in path] == ["B-PER", "I-PER", "I-PER"]


def test_losses_are_finite_and_backpropagate():
    for output in ("crf", "softmax"):
        model = _model(output=output).train()
        words = torch.tensor([[4, 5, 6], [7, 8, 0]])
        loss = model(words, torch.tensor([3, 2]), torch.randint(1, 8, (2, 3, 2)),
                     torch.tensor([[1, 2, 0], [0, 1, 0]])).loss
        loss.backward()
        assert torch.isfinite(loss) and model.embedding.weight.grad is not None


def test_config_round_trips_and_errors():
    config = TaggerConfig(vocab_size=5, tags=TAGS, char_vocab_size=4)
    assert TaggerConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="char_encoder='cnn' needs char_vocab_size >= 2"):
        TaggerConfig(vocab_size=5, tags=TAGS)
    with pytest.raises(ValueError, match="output must be one of"):
        TaggerConfig(vocab_size=5, tags=TAGS, char_encoder="none", output="hmm")
    with pytest.raises(ValueError, match="has a character encoder; pass chars"):
        _model()(torch.tensor([[4]]), torch.tensor([1]))


def test_loss_unit_is_sentences_with_a_crf_and_tokens_with_softmax():
    common = {"vocab_size": 5, "tags": ("O",), "char_encoder": "none"}
    assert TaggerConfig(output="crf", **common).loss_unit == "sentences"
    assert TaggerConfig(output="softmax", **common).loss_unit == "tokens"

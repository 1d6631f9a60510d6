"""Classifier: pooling at each sequence's true end, attention masks, padding invariance,
config round trip and errors."""

import pytest
import torch

from rnnkit.models.attention import AttentionPooling, masked_softmax
from rnnkit.models.classifier import POOLINGS, Classifier, ClassifierConfig


def _model(**options):
    torch.manual_seed(0)
    config = ClassifierConfig(vocab_size=12, num_classes=3, embed_size=5, hidden_size=4,
                              **options)
    return Classifier(config).eval()


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_padding_does_not_change_the_logits(pooling, cell):
    model = _model(pooling=pooling, cell=cell)
    alone = model(torch.tensor([[4, 5, 6]]), torch.tensor([3])).logits
    padded = model(torch.tensor([[4, 5, 6, 0, 0], [7, 8, 9, 10, 11]]),
                   torch.tensor([3, 5])).logits
    torch.testing.assert_close(padded[0:1], alone, rtol=1e-5, atol=1e-6)


def test_last_pooling_takes_forward_end_and_backward_start():
    model = _model(pooling="last", bidirectional=True)
    ids, lengths = torch.tensor([[4, 5, 6, 0]]), torch.tensor([3])
    outputs, _ = model.rnn(model.embedding(ids), lengths=lengths)  # (1, T, 2H)
    expected = torch.cat([outputs[0, 2, :4], outputs[0, 0, 4:]])  # forward at end, backward at 0
    pooled, _ = model._pool(*model.rnn(model.embedding(ids), lengths=lengths),
                            torch.tensor([[True, True, True, False]]), lengths)
    torch.testing.assert_close(pooled[0], expected)


def test_attention_weights_sum_to_one_and_are_zero_on_padding():
    torch.manual_seed(0)
    pooling = AttentionPooling(6, 5)
    states = torch.randn(3, 4, 6)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    pooled, weights = pooling(states, mask)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    assert (weights[~mask] == 0).all()
    torch.testing.assert_close(pooled[2], states[2, 0])


def test_masked_softmax_refuses_a_non_bool_mask():
    with pytest.raises(TypeError, match="mask must be a BoolTensor, got torch.int64"):
        masked_softmax(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.long))


def test_model_with_attention_returns_its_weights():
    output = _model(pooling="attention")(torch.tensor([[4, 5, 0]]), torch.tensor([2]))
    assert output.attention.shape == (1, 3) and output.attention[0, 2] == 0


def test_loss_is_cross_entropy_and_backpropagates():
    model = _model()
    output = model(torch.tensor([[4, 5], [6, 0]]), torch.tensor([2, 1]), torch.tensor([0, 2]))
    expected = torch.nn.functional.cross_entropy(output.logits, torch.tensor([0, 2]))
    torch.testing.assert_close(output.loss, expected)
    output.loss.backward()
    assert model.embedding.weight.grad[0].abs().sum() == 0  # padding row never learns


def test_loss_against_target_probabilities_is_their_cross_entropy():
    model = _model()
    ids, lengths = torch.tensor([[4, 5], [6, 0]]), torch.tensor([2, 1])
    targets = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]])
    output = model(ids, lengths, targets)
    log_p = torch.log_softmax(output.logits, dim=-1)
    torch.testing.assert_close(output.loss, -(targets * log_p).sum(dim=1).mean())
    one_hot = model(ids, lengths, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])).loss
    torch.testing.assert_close(one_hot, model(ids, lengths, torch.tensor([0, 2])).loss)


def test_pretrained_embeddings_are_used_and_can_be_frozen():
    weights = torch.randn(12, 5)
    config = ClassifierConfig(vocab_size=12, num_classes=2, embed_size=5, hidden_size=4,
                              freeze_embeddings=True)
    model = Classifier(config, weights)
    torch.testing.assert_close(model.embedding.weight, weights)
    assert not model.embedding.weight.requires_grad


def test_config_round_trips_and_refuses_unknown_keys():
    config = ClassifierConfig(vocab_size=9, num_classes=2, pooling="mean",
                              rnn_options={"layer_norm": True})
    assert ClassifierConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown keys"):
        ClassifierConfig.from_dict({**config.to_dict(), "heads": 2})


@pytest.mark.parametrize("options,message", [
    ({"pooling": "sum"}, "pooling must be one of"),
    ({"cell": "tcn"}, "cell must be one of"),
    ({"num_classes": 1}, "num_classes must be an int >= 2, got 1"),
    ({"hidden_size": 0}, "hidden_size must be an int >= 1, got 0"),
    ({"dropout": 1.0}, r"ClassifierConfig: dropout must be a number in \[0, 1\), got 1.0"),
    ({"subword_buckets": -1}, "subword_buckets must be an int >= 0"),
    ({"subword_buckets": 10, "subword_min_n": 5, "subword_max_n": 3},
     "min_n=5 must not exceed max_n=3"),
])
def test_bad_configs_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        ClassifierConfig(**{"vocab_size": 9, "num_classes": 2, **options})


def test_embeddings_of_the_wrong_shape_are_refused():
    config = ClassifierConfig(vocab_size=9, num_classes=2, embed_size=4)
    with pytest.raises(ValueError, match=r"embeddings must have shape \(9, 4\), got \(9, 3\)"):
        Classifier(config, torch.zeros(9, 3))


def test_subword_features_add_the_mean_of_the_ngram_vectors():
    model = _model(subword_buckets=20, pooling="mean")
    ids = torch.tensor([[4, 1, 0]])  # a known word, <unk>, padding
    subwords = torch.tensor([[[3, 7, 0], [5, 0, 0], [0, 0, 0]]])  # (B, T, G)
    embedded = model._embed(ids, subwords)  # (1, 3, E)
    grams = model.subword_embedding.weight
    expected = torch.stack([model.embedding.weight[4] + (grams[3] + grams[7]) / 2,
                            model.embedding.weight[1] + grams[5],
                            torch.zeros(5)])
    torch.testing.assert_close(embedded[0], expected)


def test_a_batch_without_any_ngram_has_only_word_vectors():
    model = _model(subword_buckets=20, pooling="mean")
    ids, lengths = torch.tensor([[4, 1]]), torch.tensor([2])
    no_grams = torch.zeros(1, 2, 0, dtype=torch.long)  # (B, T, 0): every token masked
    torch.testing.assert_close(model._embed(ids, no_grams), model.embedding(ids))
    torch.testing.assert_close(model(ids, lengths, subwords=no_grams).logits,
                               model(ids, lengths, subwords=torch.zeros(1, 2, 1,
                                                                        dtype=torch.long)).logits)


def test_two_unknown_words_differ_by_their_subwords():
    model = _model(subword_buckets=20, pooling="mean")
    ids, lengths = torch.tensor([[1], [1]]), torch.tensor([1, 1])
    logits = model(ids, lengths, subwords=torch.tensor([[[2, 3]], [[9, 0]]])).logits
    assert not torch.allclose(logits[0], logits[1])


def test_subwords_missing_or_unexpected_are_clear_errors():
    ids, lengths = torch.tensor([[4, 5]]), torch.tensor([2])
    with pytest.raises(ValueError, match=r"subwords must be \(B, T, G\) ids with \(B, T\) = "
                                         r"\(1, 2\) .* got None"):
        _model(subword_buckets=20)(ids, lengths)
    with pytest.raises(ValueError, match="subwords were given but the model has no subword"):
        _model()(ids, lengths, subwords=torch.ones(1, 2, 3, dtype=torch.long))

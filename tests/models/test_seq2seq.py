"""Seq2seq: attention masks, teacher forcing, greedy = beam width 1, beam search never scores
worse than greedy, padding invariance and errors."""

import pytest
import torch

from rnnkit.models.attention import AdditiveAttention, MultiplicativeAttention
from rnnkit.models.seq2seq import ATTENTIONS, Seq2Seq, Seq2SeqConfig


def _model(attention="bahdanau", seed=0, **options):
    torch.manual_seed(seed)
    config = Seq2SeqConfig(source_vocab_size=20, target_vocab_size=9, embed_size=8,
                           hidden_size=8, attention=attention, attention_size=6, dropout=0.0,
                           **options)
    return Seq2Seq(config).eval()


def _sources(seed=1):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([7, 3, 5, 1, 7, 2])
    source = torch.randint(4, 20, (6, 7), generator=generator)
    for row, length in enumerate(lengths.tolist()):
        source[row, length:] = 0
    return source, lengths


@pytest.mark.parametrize("attention", [AdditiveAttention(5, 6, 4), MultiplicativeAttention(5, 6)])
def test_attention_weights_sum_to_one_and_are_zero_on_padding(attention):
    torch.manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    keys = torch.randn(3, 4, 6)
    context, weights = attention(torch.randn(3, 5), keys, mask)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    assert (weights[~mask] == 0).all()
    torch.testing.assert_close(context[2], keys[2, 0])


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_teacher_forced_attention_never_looks_at_padding(attention):
    source, lengths = _sources()
    output = _model(attention)(source, lengths, torch.randint(2, 9, (6, 4)))
    mask = torch.arange(7).unsqueeze(0) < lengths.unsqueeze(1)  # (B, S)
    assert (output.attention.masked_select(~mask.unsqueeze(1)) == 0).all()
    torch.testing.assert_close(output.attention.sum(-1), torch.ones(6, 4))


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_beam_width_one_equals_greedy(attention):
    for seed in range(3):
        model = _model(attention, seed=seed)
        source, lengths = _sources(seed)
        assert model.beam_search(source, lengths, 12, beam_width=1) == \
            model.greedy(source, lengths, 12)


def _log_prob(model, source, lengths, output):
    """log p(output </s> | source) under teacher forcing."""
    target = torch.tensor([[model.config.bos_id, *output]])
    gold = torch.tensor([[*output, model.config.eos_id]])
    logits = model(source, lengths, target).logits
    return float(torch.log_softmax(logits, -1).gather(-1, gold.unsqueeze(-1)).sum())


def test_beam_search_finds_a_path_at_least_as_likely_as_greedy():
    model = _model(seed=4)
    source, lengths = _sources(4)
    greedy = model.greedy(source, lengths, 30)
    beam = model.beam_search(source, lengths, 30, beam_width=4, length_penalty=0.0)
    for row in range(6):
        if len(greedy[row]) == 30:  # greedy never finished: nothing to compare
            continue
        args = (source[row:row + 1, :lengths[row]], lengths[row:row + 1])
        assert _log_prob(model, *args, beam[row]) >= _log_prob(model, *args, greedy[row]) - 1e-5


def test_batch_decoding_equals_one_by_one():
    model = _model("luong", seed=2)
    source, lengths = _sources(2)
    together = model.beam_search(source, lengths, 10, beam_width=3)
    alone = [model.beam_search(source[row:row + 1, :lengths[row]], lengths[row:row + 1], 10,
                               beam_width=3)[0] for row in range(6)]
    assert together == alone


def test_loss_ignores_padding_and_backpropagates():
    model = _model().train()
    source, lengths = _sources()
    targets = torch.tensor([[4, 5, 3, 0]] * 6)
    output = model(source, lengths, torch.tensor([[2, 4, 5, 0]] * 6), targets)
    expected = torch.nn.functional.cross_entropy(output.logits[:, :3].flatten(0, 1),
                                                 targets[:, :3].flatten())
    torch.testing.assert_close(output.loss, expected)
    output.loss.backward()


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="attention must be one of"):
        Seq2SeqConfig(source_vocab_size=5, target_vocab_size=5, attention="dot")
    source, lengths = _sources()
    with pytest.raises(ValueError, match="beam_width must be >= 1, got 0"):
        _model().beam_search(source, lengths, 5, beam_width=0)

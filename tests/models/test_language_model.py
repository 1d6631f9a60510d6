"""The language model: shapes, state carrying, tying, and that it can learn."""

import pytest
import torch

from rnnkit.models import LanguageModel, LanguageModelConfig


def test_forward_shapes_and_state():
    model = LanguageModel(LanguageModelConfig(vocab_size=11, embed_size=6, hidden_size=8,
                                              num_layers=2))
    ids = torch.randint(0, 11, (3, 5))
    output = model(ids, targets=ids)
    assert output.logits is None  # the loss ran fused with the decoder
    assert output.loss.shape == ()
    h, c = output.state
    assert h.shape == c.shape == (2, 3, 8)
    both = model(ids, targets=ids, return_logits=True)
    assert both.logits.shape == (3, 5, 11)
    torch.testing.assert_close(both.loss, output.loss)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_loss_trains_exactly_as_the_plain_one(cell):
    torch.manual_seed(0)
    config = LanguageModelConfig(vocab_size=13, embed_size=6, hidden_size=8, cell=cell,
                                 tie_weights=False)
    fused, plain = LanguageModel(config), LanguageModel(config)
    plain.load_state_dict(fused.state_dict())
    ids = torch.randint(0, 13, (3, 6))
    targets = ids.roll(-1, dims=1)
    targets[0, -2:] = -100
    fused(ids, targets=targets).loss.backward()
    plain(ids, targets=targets, return_logits=True).loss.backward()
    for (name, got), want in zip(fused.named_parameters(), plain.parameters()):
        torch.testing.assert_close(got.grad, want.grad, msg=name)


def test_carried_state_equals_one_long_pass():
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=9, embed_size=4, hidden_size=5,
                                              cell="gru")).eval()
    ids = torch.randint(0, 9, (2, 8))
    whole = model(ids).logits
    first = model(ids[:, :3])
    second = model(ids[:, 3:], first.state)
    torch.testing.assert_close(torch.cat([first.logits, second.logits], dim=1), whole)


def test_weight_tying_shares_the_matrix():
    model = LanguageModel(LanguageModelConfig(vocab_size=9, embed_size=5, hidden_size=5,
                                              tie_weights=True))
    assert model.decoder.weight is model.embedding.weight
    with pytest.raises(ValueError, match="tie_weights needs the recurrent output size"):
        LanguageModelConfig(vocab_size=9, embed_size=4, hidden_size=5, tie_weights=True)


def test_init_range_bounds_every_weight():
    model = LanguageModel(LanguageModelConfig(vocab_size=20, init_range=0.1))
    assert all(float(p.detach().abs().max()) <= 0.1 for p in model.parameters())


def test_rnn_options_reach_the_recurrent_layer():
    model = LanguageModel(LanguageModelConfig(
        vocab_size=7, embed_size=4, hidden_size=6, num_layers=1,
        rnn_options={"recurrent_activation": "hard_sigmoid", "layer_norm": True},
    ))
    assert model.rnn.config.cell.recurrent_activation.name == "hard_sigmoid"
    assert model.rnn.config.cell.layer_norm


def test_config_round_trip_refuses_unknown_keys():
    config = LanguageModelConfig(vocab_size=7, rnn_options={"zoneout": 0.1})
    assert LanguageModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown keys \\['colour'\\]"):
        LanguageModelConfig.from_dict({**config.to_dict(), "colour": 1})


def test_a_tiny_corpus_overfits_to_near_zero_loss():
    torch.manual_seed(0)
    sequence = torch.tensor([[1, 2, 3, 4, 5, 6, 2, 4, 6, 1, 3, 5]])
    model = LanguageModel(LanguageModelConfig(vocab_size=7, embed_size=16, hidden_size=32,
                                              num_layers=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(200):
        loss = model(sequence[:, :-1], targets=sequence[:, 1:]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.02

"""Bad input gets a ValueError/TypeError naming the class, the argument, expected and got."""

import pytest
import torch

import rnnkit.nn as rn


@pytest.mark.parametrize("shape,got", [((3,), "1D"), ((2, 3, 4, 5), "4D")])
def test_wrong_input_rank(shape, got):
    with pytest.raises(ValueError, match=f"LSTM: expected input to be 2D or 3D, got {got}"):
        rn.LSTM(5, 4)(torch.randn(shape))


def test_wrong_feature_size():
    with pytest.raises(ValueError, match="GRU: input.size\\(-1\\) must be equal to input_size. "
                                         "Expected 5, got 7"):
        rn.GRU(5, 4)(torch.randn(3, 2, 7))


def test_integer_input_is_refused():
    with pytest.raises(TypeError, match="RNN: input must be floating point"):
        rn.RNN(5, 4)(torch.ones(3, 2, 5, dtype=torch.long))


@pytest.mark.parametrize("hx_shape,expected", [
    ((1, 2, 4), "\\(2, 2, 4\\), got \\(1, 2, 4\\)"),
    ((2, 3, 4), "\\(2, 2, 4\\), got \\(2, 3, 4\\)"),
])
def test_hidden_state_of_wrong_shape(hx_shape, expected):
    with pytest.raises(ValueError, match=f"RNN: expected hidden state h_0 of shape {expected}"):
        rn.RNN(5, 4, num_layers=2)(torch.randn(3, 2, 5), torch.randn(hx_shape))


def test_lstm_state_must_be_a_pair():
    lstm = rn.LSTM(5, 4)
    with pytest.raises(TypeError, match="LSTM: hx must be a tuple \\(h_0, c_0\\)"):
        lstm(torch.randn(3, 2, 5), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="LSTM: expected hidden state c_0 of shape \\(1, 2, 4\\)"):
        lstm(torch.randn(3, 2, 5), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 3)))


@pytest.mark.parametrize("lengths,message", [
    ([3, 0], "lengths must be in \\[1, 3\\] \\(the sequence length\\), got 0 at index 1"),
    ([4, 2], "lengths must be in \\[1, 3\\] \\(the sequence length\\), got 4 at index 0"),
    ([3, 2, 1], "lengths must have one entry per sequence: expected shape \\(2,\\), got \\(3,\\)"),
    (torch.tensor([2.0, 1.0]), "lengths must be integers"),
])
def test_bad_lengths(lengths, message):
    with pytest.raises((ValueError, TypeError), match=f"LSTM: {message}"):
        rn.LSTM(5, 4)(torch.randn(3, 2, 5), lengths=lengths)


def test_lengths_with_unbatched_input_or_packed_input():
    with pytest.raises(ValueError, match="lengths applies to batched"):
        rn.GRU(5, 4)(torch.randn(3, 5), lengths=[3])
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(3, 2, 5), [3, 2])
    with pytest.raises(ValueError, match="pass lengths or a PackedSequence, not both"):
        rn.GRU(5, 4)(packed, lengths=[3, 2])


def test_unknown_activation_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown activation 'sigmod'.*recurrent_activation.*"
                                         "hard_sigmoid.*tanh"):
        rn.LSTM(5, 4, recurrent_activation="sigmod")


def test_unknown_initializer_lists_the_valid_names():
    with pytest.raises(ValueError, match="kernel_initializer.*glorot_uniform.*orthogonal"):
        rn.GRU(5, 4, kernel_initializer="xavier")


def test_proj_size_must_be_smaller_than_hidden_size():
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size, "
                                         "got proj_size=4 and hidden_size=4"):
        rn.LSTM(5, 4, proj_size=4)
    with pytest.raises(ValueError, match="LSTM: proj_size must be an int >= 0, got -1"):
        rn.LSTM(5, 4, proj_size=-1)


@pytest.mark.parametrize("argument", ["dropout", "input_dropout", "recurrent_dropout",
                                      "zoneout", "weight_drop"])
@pytest.mark.parametrize("value", [1.0, -0.1])
def test_probabilities_outside_zero_one(argument, value):
    with pytest.raises(ValueError, match=f"LSTM: {argument} must be a number in \\[0, 1\\), "
                                         f"got {value}"):
        rn.LSTM(5, 4, num_layers=2, **{argument: value})


def test_sizes_must_be_positive_integers():
    with pytest.raises(ValueError, match="RNN: hidden_size must be an int >= 1, got 0"):
        rn.RNN(5, 0)
    with pytest.raises(TypeError, match="GRU: input_size must be an int >= 1, got 5.0"):
        rn.GRU(5.0, 4)
    with pytest.raises(ValueError, match="LSTM: num_layers must be an int >= 1, got 0"):
        rn.LSTM(5, 4, num_layers=0)


def test_unexpected_keyword_and_misplaced_options():
    with pytest.raises(TypeError, match="LSTM.__init__\\(\\) got an unexpected keyword argument "
                                        "'units'"):
        rn.LSTM(5, 4, units=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'recurrent_activation'"):
        rn.RNN(5, 4, recurrent_activation="sigmoid")
    with pytest.raises(TypeError, match="unexpected keyword argument 'reset_after'"):
        rn.LSTM(5, 4, reset_after=False)


def test_contradicting_aliases():
    with pytest.raises(ValueError, match="bias=False and use_bias=True disagree"):
        rn.GRU(5, 4, bias=False, use_bias=True)
    with pytest.raises(ValueError, match="nonlinearity='relu' and activation='tanh' disagree"):
        rn.RNN(5, 4, nonlinearity="relu", activation="tanh")


def test_unknown_impl():
    with pytest.raises(ValueError, match="GRU: impl must be one of auto, native, bptt, "
                                         "reference, got 'fast'"):
        rn.GRU(5, 4, impl="fast")


def test_peephole_is_for_lstm_only():
    with pytest.raises(TypeError, match="GRU.__init__\\(\\) got an unexpected keyword argument "
                                        "'peephole'"):
        rn.GRU(5, 4, peephole=True)
    with pytest.raises(TypeError, match="LSTM: peephole must be a bool, got 1"):
        rn.LSTM(5, 4, peephole=1)


def test_dropout_on_a_single_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        rn.LSTM(5, 4, dropout=0.5)


def test_cell_input_checks():
    cell = rn.LSTMCell(5, 4)
    with pytest.raises(ValueError, match="LSTMCell: Expected input to be 1D or 2D, got 3D"):
        cell(torch.randn(1, 2, 5))
    with pytest.raises(ValueError, match="LSTMCell: expected hidden state c of shape \\(2, 4\\)"):
        cell(torch.randn(2, 5), (torch.zeros(2, 4), torch.zeros(2, 3)))


@pytest.mark.parametrize(("layer", "option"), [
    (rn.RNN, {}), (rn.GRU, {}), (rn.LSTM, {"layer_norm": True}),
    (rn.LSTM, {"recurrent_activation": "hard_sigmoid", "hidden": 300}),  # the Python loop
], ids=["rnn", "gru", "lstm_layer_norm", "lstm_large"])
def test_bptt_refuses_second_derivatives_and_names_the_reference(layer, option):
    # once_differentiable would let this through: grad(out, x, create_graph=True) and then a
    # gradient of that gradient, silently without the paths through the kernel.
    option = dict(option)
    hidden = option.pop("hidden", 6)
    x = torch.randn(4, 2, 3, requires_grad=True)
    fast = layer(3, hidden, impl="bptt", **option)
    with pytest.raises(RuntimeError, match="bptt kernel.*impl='reference'"):
        torch.autograd.grad(fast(x)[0].pow(2).sum(), x, create_graph=True)
    reference = layer(3, hidden, impl="reference", **option)
    (first,) = torch.autograd.grad(reference(x)[0].pow(2).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.pow(2).sum(), x)
    assert second.abs().sum() > 0

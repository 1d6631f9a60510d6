"""Parity with Keras 3: the same weights give the same outputs, final states and gradients.

Each case builds a Keras layer (``return_sequences=True, return_state=True``), sets random
weights with nonzero biases, converts it with :func:`rnnkit.nn.interop.from_keras` and compares
the sequence, every final state, the input gradient and the weight gradients (mapped through
the same layout conversion) in float32 to 1e-5 (absolute and relative), for rnnkit's default
kernel choice and its reference loop. Gradients flow through Keras via its torch backend.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import torch

import rnnkit.nn as rn
from rnnkit.nn.activations import ACTIVATIONS
from rnnkit.nn.interop import (
    from_keras,
    keras_to_torch_layout,
    to_keras_weights,
    torch_to_keras_layout,
)

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip(
        f"gradient parity needs Keras' torch backend, got {keras.backend.backend()!r}; "
        "run with KERAS_BACKEND=torch",
        allow_module_level=True,
    )

# Keras' own numpy conversions warn under numpy 2 (copy= keyword); nothing of ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

B, T, I, H = 3, 7, 5, 4
TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}
FULL = {"return_sequences": True, "return_state": True}

CASES = {
    "simple_rnn_tanh": lambda: keras.layers.SimpleRNN(H, activation="tanh", **FULL),
    "simple_rnn_relu": lambda: keras.layers.SimpleRNN(H, activation="relu", **FULL),
    "lstm": lambda: keras.layers.LSTM(H, unit_forget_bias=False, **FULL),
    "lstm_hard_sigmoid": lambda: keras.layers.LSTM(H, recurrent_activation="hard_sigmoid", **FULL),
    "lstm_unit_forget_bias": lambda: keras.layers.LSTM(H, unit_forget_bias=True, **FULL),
    "lstm_go_backwards": lambda: keras.layers.LSTM(H, go_backwards=True, **FULL),
    "lstm_no_bias": lambda: keras.layers.LSTM(H, use_bias=False, **FULL),
    "gru_reset_after": lambda: keras.layers.GRU(H, reset_after=True, **FULL),
    "gru_reset_before": lambda: keras.layers.GRU(H, reset_after=False, **FULL),
    "rnn_over_gru_cell": lambda: keras.layers.RNN(keras.layers.GRUCell(H), **FULL),
    "bidirectional_lstm": lambda: keras.layers.Bidirectional(keras.layers.LSTM(H, **FULL)),
    "bidirectional_gru_reset_before": lambda: keras.layers.Bidirectional(
        keras.layers.GRU(H, reset_after=False, **FULL)
    ),
}


def _built(layer):
    layer.build((None, None, I))
    return layer


def _randomize(layer, seed: int = 0):
    """Set N(0, 0.5²) weights, biases included, so every gate and bias slot matters."""
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [rng.normal(0.0, 0.5, weight.shape).astype(np.float32) for weight in layer.get_weights()]
    )
    return layer


def _directions(keras_layer) -> list:
    if isinstance(keras_layer, keras.layers.Bidirectional):
        return [keras_layer.forward_layer, keras_layer.backward_layer]
    return [keras_layer]


def _keras_order(state, num_directions: int) -> list[torch.Tensor]:
    """rnnkit's final state as Keras returns it: per direction h (then c for an LSTM)."""
    h_n, c_n = state if isinstance(state, tuple) else (state, None)
    flat = []
    for direction in range(num_directions):
        flat += [h_n[direction]] + ([] if c_n is None else [c_n[direction]])
    return flat


def _input(seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, I, generator=generator)


def _run_both(keras_layer, ours, x):
    """Outputs in Keras' order ``[sequence, *states]`` from both layers."""
    expected = [torch.as_tensor(keras.ops.convert_to_numpy(y)) for y in keras_layer(x.numpy())]
    output, state = ours(x)
    return expected, [output, *_keras_order(state, ours.config.num_directions)]


def _assert_all_close(got: list, expected: list) -> None:
    for got_tensor, expected_tensor in zip(got, expected, strict=True):
        torch.testing.assert_close(got_tensor, expected_tensor, **TOLERANCE)


def _weighted_sum(tensors: list, probes: list) -> torch.Tensor:
    return sum((tensor * probe).sum() for tensor, probe in zip(tensors, probes, strict=True))


def _assert_weight_gradients_match(keras_layer, ours) -> None:
    """Keras' weight gradients, mapped to torch's layout, equal rnnkit's.

    A single Keras bias maps to ``bias_ih``; rnnkit's ``bias_hh`` feeds the same
    pre-activation, so its gradient equals that one too.
    """
    cell = ours.config.cell
    for direction, keras_direction in enumerate(_directions(keras_layer)):
        suffix = "_l0_reverse" if direction else "_l0"
        keras_grads = [weight.value.grad.numpy() for weight in keras_direction.trainable_weights]
        expected = keras_to_torch_layout(cell.kind, keras_grads, reset_after=cell.reset_after)
        separate_biases = cell.kind == "gru" and cell.reset_after
        if "bias_hh" in expected and not separate_biases:
            expected["bias_hh"] = expected["bias_ih"]
        assert {name + suffix for name in expected} <= {name for name, _ in ours.named_parameters()}
        for name, gradient in expected.items():
            torch.testing.assert_close(
                getattr(ours, name + suffix).grad, torch.from_numpy(gradient), **TOLERANCE
            )


@pytest.mark.parametrize("impl", ["auto", "reference"])
@pytest.mark.parametrize("case", CASES)
def test_outputs_states_and_gradients_match_keras(case: str, impl: str) -> None:
    keras_layer = _randomize(_built(CASES[case]()))
    ours = from_keras(keras_layer, impl=impl)
    x = _input()
    x_keras, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    expected = list(keras_layer(x_keras))
    output, state = ours(x_ours)
    got = [output, *_keras_order(state, ours.config.num_directions)]
    _assert_all_close(got, expected)

    generator = torch.Generator().manual_seed(2)
    probes = [torch.randn(tensor.shape, generator=generator) for tensor in expected]
    _weighted_sum(expected, probes).backward()
    _weighted_sum(got, probes).backward()
    torch.testing.assert_close(x_ours.grad, x_keras.grad, **TOLERANCE)
    _assert_weight_gradients_match(keras_layer, ours)


def test_from_keras_maps_the_options() -> None:
    keras_layer = _built(keras.layers.LSTM(
        H, activation="softsign", recurrent_activation="hard_sigmoid", unit_forget_bias=True,
        dropout=0.25, recurrent_dropout=0.125, go_backwards=True,
    ))
    ours = from_keras(keras_layer)
    config, cell = ours.config, ours.config.cell
    assert isinstance(ours, rn.LSTM)
    assert (cell.input_size, cell.hidden_size, cell.bias) == (I, H, True)
    assert (cell.activation.name, cell.recurrent_activation.name) == ("softsign", "hard_sigmoid")
    assert (cell.unit_forget_bias, cell.input_dropout, cell.recurrent_dropout) == (
        True, 0.25, 0.125
    )
    assert (config.batch_first, config.go_backwards, config.bidirectional) == (True, True, False)
    gru = from_keras(_built(keras.layers.GRU(H, reset_after=False, activation=None)))
    assert (gru.config.cell.reset_after, gru.config.cell.activation.name) == (False, "linear")


def test_overrides_replace_what_the_weights_do_not_fix() -> None:
    keras_layer = _randomize(_built(keras.layers.GRU(H, **FULL)))
    ours = from_keras(keras_layer, batch_first=False, impl="reference", dtype=torch.float64)
    assert (ours.batch_first, ours.config.impl) == (False, "reference")
    assert ours.weight_ih_l0.dtype == torch.float64
    x = _input()
    expected = keras.ops.convert_to_numpy(keras_layer(x.numpy())[0])
    output, _ = ours(x.double().transpose(0, 1))  # (T, B, I)
    torch.testing.assert_close(output.transpose(0, 1).float(), torch.from_numpy(expected),
                               **TOLERANCE)
    with pytest.raises(ValueError, match="from_keras: cannot override hidden_size"):
        from_keras(keras_layer, hidden_size=2 * H)


def test_float64_keras_layer_gives_a_float64_layer() -> None:
    keras_layer = _randomize(_built(keras.layers.GRU(H, dtype="float64", **FULL)))
    ours = from_keras(keras_layer)
    assert ours.weight_ih_l0.dtype == torch.float64
    with torch.no_grad():
        expected, got = _run_both(keras_layer, ours, _input().double())
    for got_tensor, expected_tensor in zip(got, expected, strict=True):
        torch.testing.assert_close(got_tensor, expected_tensor, atol=1e-12, rtol=1e-12)


def test_options_that_change_no_weights_are_ignored() -> None:
    keras_layer = _randomize(_built(keras.layers.LSTM(H, use_cudnn=False, unroll=True)))
    ours = from_keras(keras_layer)
    x = _input()
    last = torch.from_numpy(keras.ops.convert_to_numpy(keras_layer(x.numpy())))  # (B, H)
    output, (h_n, _) = ours(x)
    torch.testing.assert_close(output[:, -1], last, **TOLERANCE)
    torch.testing.assert_close(h_n[0], last, **TOLERANCE)


ROUND_TRIP = {
    "rnn_tanh": (lambda: rn.RNN(I, H, batch_first=True),
                 lambda: keras.layers.SimpleRNN(H, **FULL)),
    "lstm": (lambda: rn.LSTM(I, H, batch_first=True), lambda: keras.layers.LSTM(H, **FULL)),
    "lstm_no_bias": (lambda: rn.LSTM(I, H, bias=False, batch_first=True),
                     lambda: keras.layers.LSTM(H, use_bias=False, **FULL)),
    "gru_reset_after": (lambda: rn.GRU(I, H, batch_first=True),
                        lambda: keras.layers.GRU(H, **FULL)),
    "gru_reset_before": (lambda: rn.GRU(I, H, reset_after=False, batch_first=True),
                         lambda: keras.layers.GRU(H, reset_after=False, **FULL)),
    "bidirectional_lstm": (lambda: rn.LSTM(I, H, bidirectional=True, batch_first=True),
                           lambda: keras.layers.Bidirectional(keras.layers.LSTM(H, **FULL))),
}


@pytest.mark.parametrize("case", ROUND_TRIP)
def test_to_keras_weights_round_trip(case: str) -> None:
    """rnnkit → Keras → rnnkit: each step computes what the first layer computes.

    torch's default init draws nonzero ``bias_hh`` too, so folding it into Keras' single bias
    (LSTM, SimpleRNN, reset-before GRU) is exercised.
    """
    make_ours, make_keras = ROUND_TRIP[case]
    torch.manual_seed(0)
    ours = make_ours()
    keras_layer = _built(make_keras())
    keras_layer.set_weights(to_keras_weights(ours))
    x = _input()
    with torch.no_grad():
        expected, got = _run_both(keras_layer, ours, x)
        _assert_all_close(got, expected)
        _, back = _run_both(keras_layer, from_keras(keras_layer), x)
    _assert_all_close(back, got)


def test_layouts_reorder_the_gate_blocks() -> None:
    """Label each Keras column block with its gate and check where it lands in torch's rows."""
    labels = {"i": 0.0, "f": 1.0, "g": 2.0, "o": 3.0, "r": 4.0, "z": 5.0, "n": 6.0}
    keras_orders = {"lstm": "ifgo", "gru": "zrn"}  # Keras' i,f,c,o and z,r,h
    torch_orders = {"lstm": "ifgo", "gru": "rzn"}
    for kind, keras_order in keras_orders.items():
        block = np.concatenate([np.full(H, labels[gate]) for gate in keras_order])  # (G*H,)
        kernel = np.tile(block, (I, 1))  # (I, G*H)
        recurrent = np.tile(block, (H, 1))  # (H, G*H)
        bias = np.stack([block, block + 10.0]) if kind == "gru" else block
        converted = keras_to_torch_layout(kind, [kernel, recurrent, bias])
        expected = np.concatenate([np.full(H, labels[gate]) for gate in torch_orders[kind]])
        np.testing.assert_array_equal(converted["weight_ih"][:, 0], expected)
        np.testing.assert_array_equal(converted["weight_hh"][:, 0], expected)
        np.testing.assert_array_equal(converted["bias_ih"], expected)
        expected_hh = expected + 10.0 if kind == "gru" else np.zeros_like(expected)
        np.testing.assert_array_equal(converted["bias_hh"], expected_hh)
        back = torch_to_keras_layout(kind, converted)
        for original, restored in zip([kernel, recurrent, bias], back, strict=True):
            np.testing.assert_array_equal(restored, original)


def test_unit_forget_bias_matches_keras_initial_bias() -> None:
    forget = slice(H, 2 * H)
    ours = rn.LSTM(I, H, unit_forget_bias=True)
    total = (ours.bias_ih_l0 + ours.bias_hh_l0).detach()[forget]
    assert torch.equal(total, torch.ones(H))
    keras_bias = keras.ops.convert_to_numpy(_built(keras.layers.LSTM(H)).cell.bias)  # (4H,)
    np.testing.assert_array_equal(keras_bias[forget], total.numpy())
    np.testing.assert_array_equal(to_keras_weights(ours)[2][forget], keras_bias[forget])
    zeros_elsewhere = rn.LSTM(I, H, unit_forget_bias=True, bias_initializer="zeros")
    np.testing.assert_array_equal(to_keras_weights(zeros_elsewhere)[2], keras_bias)


HARD_SIGMOID_POINTS = np.concatenate(
    [np.linspace(-5.0, 5.0, 1001), [-3.0, -2.5, 0.0, 2.5, 3.0]]
).astype(np.float32)


def test_keras_hard_sigmoid_is_relu6_over_6_and_rnnkits_hard_sigmoid() -> None:
    x = HARD_SIGMOID_POINTS
    keras_values = keras.ops.convert_to_numpy(
        keras.activations.hard_sigmoid(keras.ops.convert_to_tensor(x))
    )
    np.testing.assert_allclose(keras_values, np.clip(x + 3.0, 0.0, 6.0) / 6.0, rtol=0, atol=1e-7)
    ours = ACTIVATIONS["hard_sigmoid"](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, keras_values, rtol=0, atol=1e-7)
    one = keras.ops.convert_to_numpy(keras.activations.hard_sigmoid(keras.ops.ones((1,))))
    assert abs(float(one[0]) - 2.0 / 3.0) < 1e-7  # not Keras 2's 0.2 * 1 + 0.5 = 0.7


def test_hard_sigmoid_v2_is_keras_2s_formula() -> None:
    x = HARD_SIGMOID_POINTS
    ours = ACTIVATIONS["hard_sigmoid_v2"](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, np.clip(0.2 * x + 0.5, 0.0, 1.0), rtol=0, atol=1e-7)


UNSUPPORTED_KERAS = {
    "dense": (lambda: keras.layers.Dense(H), TypeError, r"keras_layer .*got Dense"),
    "stacked_cells": (
        lambda: keras.layers.RNN([keras.layers.LSTMCell(H), keras.layers.LSTMCell(H)]),
        TypeError, "over a StackedRNNCells",
    ),
    "merge_mode_sum": (
        lambda: keras.layers.Bidirectional(keras.layers.LSTM(H), merge_mode="sum"),
        ValueError, "merge_mode='concat'.*got merge_mode='sum'",
    ),
    "activation_elu": (
        lambda: keras.layers.SimpleRNN(H, activation="elu"),
        ValueError, "unsupported Keras activation 'elu'",
    ),
    "directions_differ": (
        lambda: keras.layers.Bidirectional(
            keras.layers.LSTM(H),
            backward_layer=keras.layers.LSTM(H, activation="relu", go_backwards=True),
        ),
        ValueError, "activation='tanh' vs 'relu'",
    ),
    "forward_goes_backwards": (
        lambda: keras.layers.Bidirectional(
            keras.layers.LSTM(H, go_backwards=True), backward_layer=keras.layers.LSTM(H)
        ),
        ValueError, "forward layer has go_backwards=False",
    ),
}


@pytest.mark.parametrize("case", UNSUPPORTED_KERAS)
def test_from_keras_rejects_unsupported_input(case: str) -> None:
    make, error, message = UNSUPPORTED_KERAS[case]
    with pytest.raises(error, match=message):
        from_keras(_built(make()))


def test_from_keras_rejects_non_keras_and_unbuilt_layers() -> None:
    with pytest.raises(TypeError, match="from_keras: expected keras_layer .*got LSTM"):
        from_keras(torch.nn.LSTM(I, H))
    with pytest.raises(ValueError, match="is not built"):
        from_keras(keras.layers.GRU(H))


@pytest.mark.parametrize(
    "make,error,message",
    [
        (lambda: rn.LSTM(I, H, num_layers=2), ValueError, "expected num_layers=1 .*got 2"),
        (lambda: rn.LSTM(I, H, proj_size=2), ValueError, "expected proj_size=0 .*got 2"),
        (lambda: rn.GRU(I, H, layer_norm=True), ValueError, "expected layer_norm=False"),
        (lambda: torch.nn.LSTM(I, H), TypeError, "expected layer to be an rnnkit.nn"),
    ],
    ids=["num_layers", "proj_size", "layer_norm", "torch_module"],
)
def test_to_keras_weights_rejects_what_keras_cannot_hold(make, error, message) -> None:
    with pytest.raises(error, match=f"to_keras_weights: {message}"):
        to_keras_weights(make())


def test_layout_functions_reject_bad_arrays() -> None:
    kernel, recurrent = np.zeros((I, 3 * H)), np.zeros((H, 3 * H))
    with pytest.raises(ValueError, match=r"expected bias \(GRU, reset_after=True\) of shape"):
        keras_to_torch_layout("gru", [kernel, recurrent, np.zeros(3 * H)])
    with pytest.raises(ValueError, match="expected recurrent_kernel of shape"):
        keras_to_torch_layout("gru", [kernel, recurrent.T])
    with pytest.raises(ValueError, match="expected kind to be one of"):
        keras_to_torch_layout("transformer", [kernel, recurrent])
    with pytest.raises(ValueError, match="both bias_ih and bias_hh"):
        torch_to_keras_layout(
            "gru", {"weight_ih": kernel.T, "weight_hh": recurrent.T, "bias_ih": np.zeros(3 * H)}
        )

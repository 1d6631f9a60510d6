"""Tests for rnnkit.nn.activations: values, autograd, grad_from_output, lookup errors, Keras parity."""

import os
import pickle

import pytest
import torch

import rnnkit.nn
from rnnkit.nn.activations import ACTIVATIONS, Activation, builtin_name, get_activation

NAMES = ("hard_sigmoid", "hard_sigmoid_v2", "linear", "relu", "sigmoid", "softsign", "tanh")

# Points where an activation is not differentiable; tests keep their inputs away from them.
KINKS = {
    "relu": (0.0,),
    "hard_sigmoid": (-3.0, 3.0),
    "hard_sigmoid_v2": (-2.5, 2.5),
}


def points_away_from_kinks(name: str, count: int = 2000, *, seed: int = 0) -> torch.Tensor:
    """float64 points in [-6, 6] at least 1e-3 from the kinks of ``name``."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.empty(count, dtype=torch.float64).uniform_(-6.0, 6.0, generator=generator)
    keep = torch.ones_like(x, dtype=torch.bool)
    for kink in KINKS.get(name, ()):
        keep &= (x - kink).abs() > 1e-3
    return x[keep]


def test_names_and_read_only_mapping():
    assert tuple(sorted(ACTIVATIONS)) == NAMES
    for name, activation in ACTIVATIONS.items():
        assert activation.name == name
    with pytest.raises(TypeError):
        ACTIVATIONS["swish"] = ACTIVATIONS["tanh"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sigmoid", lambda x: 1 / (1 + torch.exp(-x))),
        ("tanh", torch.tanh),
        ("relu", lambda x: torch.where(x > 0, x, torch.zeros_like(x))),
        ("linear", lambda x: x),
        ("softsign", lambda x: x / (1 + x.abs())),
        ("hard_sigmoid", lambda x: torch.clamp(x + 3, 0, 6) / 6),
        ("hard_sigmoid_v2", lambda x: torch.clamp(0.2 * x + 0.5, 0, 1)),
    ],
)
def test_values_follow_the_equation(name, expected):
    x = torch.linspace(-6, 6, 241, dtype=torch.float64)
    torch.testing.assert_close(get_activation(name)(x), expected(x), rtol=0, atol=1e-12)


def test_hard_sigmoids_at_their_knots():
    x = torch.tensor([-3.0, -2.5, 0.0, 2.5, 3.0])
    torch.testing.assert_close(
        get_activation("hard_sigmoid")(x), torch.tensor([0.0, 1 / 12, 0.5, 11 / 12, 1.0])
    )
    torch.testing.assert_close(
        get_activation("hard_sigmoid_v2")(x), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0])
    )


def test_call_is_fn():
    x = torch.randn(5)
    activation = ACTIVATIONS["sigmoid"]
    torch.testing.assert_close(activation(x), activation.fn(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name):
    x = points_away_from_kinks(name, 64).requires_grad_()
    assert torch.autograd.gradcheck(get_activation(name).fn, (x,))


@pytest.mark.parametrize("name", NAMES)
def test_grad_from_output_equals_autograd(name):
    activation = get_activation(name)
    x = points_away_from_kinks(name).requires_grad_()
    y = activation(x)
    (autograd_grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(
        activation.grad_from_output(y.detach()), autograd_grad, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("name", NAMES)
def test_grad_from_output_keeps_dtype_and_shape(name):
    y = get_activation(name)(torch.randn(3, 4, dtype=torch.float32))
    grad = get_activation(name).grad_from_output(y)
    assert grad.shape == (3, 4)
    assert grad.dtype == torch.float32


def test_flat_regions_have_zero_gradient():
    for name, x in (("relu", -1.0), ("hard_sigmoid", 4.0), ("hard_sigmoid_v2", -3.0)):
        activation = get_activation(name)
        y = activation(torch.tensor([x]))
        assert activation.grad_from_output(y).item() == 0.0


def test_activation_object_passes_through_and_pickles():
    custom = Activation("swish", lambda x: x * torch.sigmoid(x), lambda y: torch.ones_like(y))
    assert get_activation(custom) is custom
    tanh = get_activation("tanh")
    assert pickle.loads(pickle.dumps(tanh)) == tanh


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as error:
        get_activation("sigmod", owner="LSTM", argument="recurrent_activation")
    assert str(error.value) == (
        "LSTM: unknown activation 'sigmod' for argument 'recurrent_activation'; expected one of: "
        "hard_sigmoid, hard_sigmoid_v2, linear, relu, sigmoid, softsign, tanh"
    )


@pytest.mark.parametrize("bad", [None, 3, torch.tanh, ["tanh"]])
def test_wrong_type_names_owner_argument_and_type(bad):
    with pytest.raises(TypeError, match=r"^GRU: .*'activation'.*got "):
        get_activation(bad, owner="GRU")


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on its torch backend, or a skip saying why not."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"needs Keras' torch backend, got {keras.backend.backend()!r}")
    return keras


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "linear", "softsign", "hard_sigmoid"])
def test_matches_keras(keras, name):
    x = torch.linspace(-6, 6, 121)
    expected = torch.as_tensor(keras.activations.get(name)(x)).cpu()
    torch.testing.assert_close(get_activation(name)(x), expected, atol=1e-6, rtol=1e-6)


def _scaled_tanh() -> Activation:
    """A user's activation that reuses a built-in's name with other numbers."""
    return Activation("tanh", lambda x: 2.0 * torch.tanh(x), lambda y: 2.0 * (1 - (y / 2) ** 2))


def test_builtin_name_tells_a_users_activation_from_the_builtin():
    assert builtin_name(ACTIVATIONS["tanh"]) == "tanh"
    assert builtin_name(get_activation("sigmoid")) == "sigmoid"
    assert builtin_name(_scaled_tanh()) is None


@pytest.mark.parametrize("impl", ["auto", "bptt"])
def test_a_users_activation_named_like_a_builtin_is_not_sent_to_a_fused_kernel(impl):
    torch.manual_seed(0)
    custom = rnnkit.nn.RNN(3, 4, activation=_scaled_tanh(), impl=impl)
    assert not custom.config.cell.is_torch_standard
    reference = rnnkit.nn.RNN(3, 4, activation=_scaled_tanh(), impl="reference")
    reference.load_state_dict(custom.state_dict())
    x = torch.randn(5, 2, 3)
    output, _ = custom(x)
    torch.testing.assert_close(output, reference(x)[0])
    assert output.abs().max() > 1.0  # 2·tanh, not tanh


def test_a_users_activation_cannot_be_saved_in_a_config():
    layer = rnnkit.nn.LSTM(3, 4, activation=_scaled_tanh())
    with pytest.raises(ValueError, match="activation='tanh' is a custom Activation"):
        layer.config.to_dict()

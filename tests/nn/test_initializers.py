"""Tests for rnnkit.nn.initializers: distributions, fans in torch's layout, configs, errors."""

import dataclasses
import json
import math
import os

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.nn.initializers import (
    INITIALIZERS,
    Constant,
    GlorotUniform,
    Initializer,
    Normal,
    Orthogonal,
    TorchDefault,
    Uniform,
    UniformFanIn,
    get_initializer,
)

PARAMETERLESS = (
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "torch_default",
    "uniform_fan_in",
    "zeros",
)

# Keras' variance scaling: (scale, mode) per name; variance = scale / n.
VARIANCE_SCALING = {
    "glorot_uniform": (1.0, "fan_avg"),
    "glorot_normal": (1.0, "fan_avg"),
    "he_uniform": (2.0, "fan_in"),
    "he_normal": (2.0, "fan_in"),
    "lecun_uniform": (1.0, "fan_in"),
    "lecun_normal": (1.0, "fan_in"),
}

# A tall (out, in) weight whose fans differ, so swapping them would show: fan_in=100, fan_out=400.
OUT, IN = 400, 100


def filled(spec, shape, *, hidden_size: int = 16, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    tensor = torch.empty(shape, dtype=torch.float64)
    get_initializer(spec)(tensor, hidden_size=hidden_size)
    return tensor


def variance_of(name: str, fan_in: int, fan_out: int) -> float:
    scale, mode = VARIANCE_SCALING[name]
    n = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
    return scale / n


def test_names():
    assert INITIALIZERS == tuple(sorted(PARAMETERLESS + ("constant", "normal", "uniform")))


@pytest.mark.parametrize("name", PARAMETERLESS)
def test_fills_in_place_without_grad(name):
    parameter = torch.nn.Parameter(torch.full((12, 3), float("nan")))
    storage = parameter.data_ptr()
    get_initializer(name)(parameter, hidden_size=3)
    assert parameter.data_ptr() == storage
    assert parameter.grad_fn is None
    assert torch.isfinite(parameter).all()


def test_torch_default_reproduces_torch_lstm():
    input_size, hidden_size = 5, 7
    torch.manual_seed(3)
    lstm = torch.nn.LSTM(input_size, hidden_size)
    torch.manual_seed(3)
    for name, parameter in lstm.named_parameters():
        ours = torch.empty_like(parameter)
        TorchDefault()(ours, hidden_size=hidden_size)
        torch.testing.assert_close(ours, parameter.detach(), rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("shape", [(4 * 50, 30), (4 * 50,)])
def test_torch_default_bound_uses_hidden_size(shape):
    tensor = filled("torch_default", shape, hidden_size=50)
    bound = 1 / math.sqrt(50)
    assert tensor.abs().max() <= bound
    assert tensor.abs().max() > 0.95 * bound


@pytest.mark.parametrize(("shape", "n"), [((OUT, IN), IN), ((OUT,), 16)])
def test_uniform_fan_in_bound(shape, n):
    tensor = filled("uniform_fan_in", shape, hidden_size=16)
    bound = 1 / math.sqrt(n)
    assert tensor.abs().max() <= bound
    assert tensor.abs().max() > 0.95 * bound


@pytest.mark.parametrize("name", ["glorot_uniform", "he_uniform", "lecun_uniform"])
@pytest.mark.parametrize(("shape", "fan_in", "fan_out"), [((OUT, IN), IN, OUT), ((OUT,), OUT, OUT)])
def test_variance_scaling_uniform_limit(name, shape, fan_in, fan_out):
    tensor = filled(name, shape)
    limit = math.sqrt(3 * variance_of(name, fan_in, fan_out))
    assert tensor.abs().max() <= limit
    assert tensor.abs().max() > 0.95 * limit
    assert tensor.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize("name", ["glorot_normal", "he_normal", "lecun_normal"])
def test_variance_scaling_truncated_normal(name):
    tensor = filled(name, (OUT, IN))
    std = math.sqrt(variance_of(name, IN, OUT))
    assert tensor.std().item() == pytest.approx(std, rel=0.03)
    assert tensor.mean().item() == pytest.approx(0.0, abs=0.02 * std)
    truncation = 2 * std / 0.87962566103423978
    assert tensor.abs().max() <= truncation
    assert tensor.abs().max() > 0.95 * truncation


def test_fans_need_1d_or_2d():
    with pytest.raises(ValueError, match=r"GlorotUniform: expected a 1-D or 2-D tensor, got 3-D"):
        GlorotUniform()(torch.empty(2, 3, 4), hidden_size=3)


@pytest.mark.parametrize("shape", [(4 * 32, 32), (3 * 20, 50)])
def test_orthogonal_tall_has_orthonormal_columns(shape):
    weight = filled("orthogonal", shape)
    identity = torch.eye(shape[1], dtype=torch.float64)
    torch.testing.assert_close(weight.T @ weight, identity, rtol=0, atol=1e-10)


def test_orthogonal_wide_has_orthonormal_rows_and_gain():
    weight = filled({"name": "orthogonal", "gain": 2.0}, (16, 64))
    torch.testing.assert_close(
        weight @ weight.T, 4 * torch.eye(16, dtype=torch.float64), rtol=0, atol=1e-10
    )


def test_orthogonal_needs_2d():
    with pytest.raises(ValueError, match=r"Orthogonal: expected a 2-D tensor, got 1-D"):
        Orthogonal()(torch.empty(8), hidden_size=8)


@pytest.mark.parametrize(
    ("spec", "value"),
    [("zeros", 0.0), ("ones", 1.0), ({"name": "constant", "value": -0.25}, -0.25)],
)
def test_constants_are_exact(spec, value):
    tensor = filled(spec, (6, 5))
    assert torch.equal(tensor, torch.full((6, 5), value, dtype=torch.float64))


def test_uniform_bounds():
    tensor = filled(Uniform(0.3), (OUT, IN))
    assert tensor.abs().max() <= 0.3
    assert tensor.abs().max() > 0.29
    assert tensor.std().item() == pytest.approx(0.3 / math.sqrt(3), rel=0.03)


def test_normal_statistics():
    tensor = filled(Normal(std=0.5, mean=1.5), (OUT, IN))
    assert tensor.mean().item() == pytest.approx(1.5, abs=0.01)
    assert tensor.std().item() == pytest.approx(0.5, rel=0.03)


def test_fixed_seed_is_reproducible():
    torch.testing.assert_close(filled("he_normal", (8, 4)), filled("he_normal", (8, 4)))


@pytest.mark.parametrize(
    "initializer",
    [get_initializer(name) for name in PARAMETERLESS]
    + [Uniform(0.1), Normal(0.02), Normal(std=1.0, mean=-2.0), Constant(3), Orthogonal(1.5)],
)
def test_config_round_trip_through_json(initializer):
    config = json.loads(json.dumps(initializer.to_config()))
    assert get_initializer(config) == initializer


def test_config_forms():
    assert get_initializer("glorot_uniform").to_config() == "glorot_uniform"
    assert Uniform(1).to_config() == {"name": "uniform", "a": 1.0}
    assert Normal(0.1).to_config() == {"name": "normal", "std": 0.1, "mean": 0.0}
    assert get_initializer("orthogonal") == Orthogonal() == get_initializer({"name": "orthogonal"})
    assert get_initializer({"name": "zeros"}) == get_initializer("zeros")


@given(
    a=st.floats(min_value=1e-6, max_value=1e6),
    mean=st.floats(min_value=-1e6, max_value=1e6),
    value=st.floats(allow_nan=False, allow_infinity=False),
)
def test_parametrised_round_trip(a, mean, value):
    for initializer in (Uniform(a), Normal(a, mean), Constant(value), Orthogonal(a)):
        assert get_initializer(json.loads(json.dumps(initializer.to_config()))) == initializer


def test_objects_pass_through_and_are_frozen():
    initializer = Uniform(0.1)
    assert get_initializer(initializer) is initializer
    assert isinstance(initializer, Initializer)
    with pytest.raises(dataclasses.FrozenInstanceError):
        initializer.a = 0.2  # type: ignore[misc]


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as error:
        get_initializer("xavier", owner="LSTM", argument="kernel_initializer")
    assert str(error.value) == (
        "LSTM: unknown initializer 'xavier' for argument 'kernel_initializer'; expected one of: "
        "constant, glorot_normal, glorot_uniform, he_normal, he_uniform, lecun_normal, "
        "lecun_uniform, normal, ones, orthogonal, torch_default, uniform, uniform_fan_in, zeros"
    )


def test_unknown_name_in_a_dict():
    with pytest.raises(ValueError, match=r"unknown initializer 'xavier' .*expected one of: "):
        get_initializer({"name": "xavier"})


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ({"name": "uniform", "a": 0.0}, r"'a' to be a finite number > 0, got 0"),
        ({"name": "uniform", "a": -1}, r"'a' to be a finite number > 0, got -1"),
        ({"name": "normal", "std": -0.1}, r"'std' to be a finite number > 0"),
        ({"name": "normal", "std": 1.0, "mean": math.inf}, r"'mean' to be a finite number"),
        ({"name": "constant", "value": math.nan}, r"'value' to be a finite number"),
        ({"name": "orthogonal", "gain": 0}, r"'gain' to be a finite number > 0"),
        ({"name": "uniform", "a": 0.1, "b": 0.2}, r"unknown parameter\(s\) \['b'\]"),
        ({"name": "zeros", "value": 1}, r"unknown parameter\(s\) \['value'\]"),
        ({"a": 0.1}, r"config of argument 'recurrent_initializer' to have a 'name' key"),
        ("uniform", r"initializer 'uniform' .* needs parameter\(s\) \['a'\]"),
        ({"name": "normal", "mean": 0.0}, r"needs parameter\(s\) \['std'\]"),
    ],
)
def test_bad_configs_raise_value_error(spec, pattern):
    with pytest.raises(ValueError, match=r"^GRU: .*" + pattern):
        get_initializer(spec, owner="GRU", argument="recurrent_initializer")


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        (3, r"'bias_initializer' to be an initializer name .*got int"),
        (Uniform, r"got ABCMeta"),
        ({"name": "uniform", "a": "0.1"}, r"Uniform: expected parameter 'a' to be a real number"),
        ({"name": "constant", "value": True}, r"'value' to be a real number, got bool"),
        ({"name": 3}, r"initializer name of argument 'bias_initializer' to be a str, got int"),
    ],
)
def test_bad_types_raise_type_error(spec, pattern):
    with pytest.raises(TypeError, match=r"^RNN: .*" + pattern):
        get_initializer(spec, owner="RNN", argument="bias_initializer")


def test_direct_construction_validates():
    with pytest.raises(ValueError, match=r"^Uniform: expected parameter 'a'"):
        Uniform(-0.5)


@pytest.mark.parametrize("hidden_size", [0, -3, 2.5, True])
def test_hidden_size_is_validated(hidden_size):
    with pytest.raises(ValueError, match=r"expected hidden_size to be a positive int"):
        TorchDefault()(torch.empty(4), hidden_size=hidden_size)
    with pytest.raises(ValueError, match=r"expected hidden_size to be a positive int"):
        UniformFanIn()(torch.empty(4), hidden_size=hidden_size)


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on its torch backend, or a skip saying why not."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"needs Keras' torch backend, got {keras.backend.backend()!r}")
    return keras


@pytest.mark.parametrize("name", sorted(VARIANCE_SCALING))
def test_matches_keras_on_transposed_kernel(keras, name):
    """Same distribution as Keras on its (in, out) kernel: equal spread and equal extreme."""
    ours = filled(name, (OUT, IN))
    theirs = (
        torch.as_tensor(
            keras.initializers.get({"class_name": name, "config": {"seed": 1}})((IN, OUT))
        )
        .cpu()
        .double()
    )
    assert ours.std().item() == pytest.approx(theirs.std().item(), rel=0.03)
    assert ours.abs().max().item() == pytest.approx(theirs.abs().max().item(), rel=0.05)


def test_orthogonal_matches_keras_recurrent_kernel(keras):
    """Keras' (H, 4H) recurrent kernel has orthonormal rows; ours, its transpose, columns."""
    hidden_size = 8
    theirs = torch.as_tensor(keras.initializers.Orthogonal(seed=1)((hidden_size, 4 * hidden_size)))
    theirs = theirs.cpu().double()
    identity = torch.eye(hidden_size, dtype=torch.float64)
    torch.testing.assert_close(theirs @ theirs.T, identity, rtol=0, atol=1e-5)
    ours = filled("orthogonal", (4 * hidden_size, hidden_size))
    torch.testing.assert_close(ours.T @ ours, identity, rtol=0, atol=1e-10)

"""Tests for rnnkit.nn.regularizers: penalties, gradients, names, configs, errors, Keras parity."""

import dataclasses
import json
import math
import os

import pytest
import torch

from rnnkit.nn.regularizers import L1, L1L2, L2, REGULARIZERS, Regularizer, get_regularizer

WEIGHT = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -0.25]], dtype=torch.float64)
SUM_ABS = 6.75
SUM_SQUARES = 14.3125


def test_names():
    assert REGULARIZERS == ("l1", "l1_l2", "l1l2", "l2")


@pytest.mark.parametrize(
    ("regularizer", "expected"),
    [
        (L1(0.1), 0.1 * SUM_ABS),
        (L2(0.1), 0.1 * SUM_SQUARES),
        (L1L2(0.1, 0.2), 0.1 * SUM_ABS + 0.2 * SUM_SQUARES),
        (L1L2(), 0.0),
    ],
)
def test_penalty_values(regularizer, expected):
    penalty = regularizer(WEIGHT)
    assert penalty.dim() == 0
    assert penalty.dtype == torch.float64
    assert penalty.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("regularizer", "gradient"),
    [
        (L1(0.1), lambda w: 0.1 * torch.sign(w)),
        (L2(0.1), lambda w: 0.2 * w),
        (L1L2(0.1, 0.2), lambda w: 0.1 * torch.sign(w) + 0.4 * w),
    ],
)
def test_penalty_is_differentiable(regularizer, gradient):
    weight = torch.randn(5, 4, dtype=torch.float64).requires_grad_()
    (grad,) = torch.autograd.grad(regularizer(weight), weight)
    torch.testing.assert_close(grad, gradient(weight.detach()))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("l1", L1(0.01)),
        ("l2", L2(0.01)),
        ("l1l2", L1L2(0.01, 0.01)),
        ("l1_l2", L1L2(0.01, 0.01)),
        ({"name": "l1"}, L1(0.01)),
        ({"name": "l1l2", "l2": 0.3}, L1L2(0.0, 0.3)),
        ({"name": "l1_l2", "l1": 0.3}, L1L2(0.3, 0.0)),
    ],
)
def test_specs(spec, expected):
    assert get_regularizer(spec) == expected


def test_class_defaults_match_keras():
    assert L1() == L1(0.01)
    assert L2() == L2(0.01)
    assert L1L2() == L1L2(0.0, 0.0)


def test_none_and_objects_pass_through():
    assert get_regularizer(None) is None
    regularizer = L2(0.5)
    assert get_regularizer(regularizer) is regularizer
    assert isinstance(regularizer, Regularizer)
    with pytest.raises(dataclasses.FrozenInstanceError):
        regularizer.l2 = 0.1  # type: ignore[misc]


@pytest.mark.parametrize("regularizer", [L1(), L2(0.3), L1L2(0.1, 0.2), L1L2(), L1(2)])
def test_config_round_trip_through_json(regularizer):
    config = regularizer.to_config()
    assert config["name"] == regularizer.name
    assert get_regularizer(json.loads(json.dumps(config))) == regularizer


def test_config_form():
    assert L1L2(0.1, 0.2).to_config() == {"name": "l1l2", "l1": 0.1, "l2": 0.2}
    assert L1(1).to_config() == {"name": "l1", "l1": 1.0}


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as error:
        get_regularizer("l3", owner="LSTM", argument="kernel_regularizer")
    assert str(error.value) == (
        "LSTM: unknown regularizer 'l3' for argument 'kernel_regularizer'; "
        "expected one of: l1, l1_l2, l1l2, l2"
    )


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ({"name": "l1", "l1": -0.1}, r"L1: expected parameter 'l1' to be a finite number >= 0"),
        ({"name": "l2", "l2": math.inf}, r"L2: expected parameter 'l2' to be a finite number"),
        ({"name": "l1l2", "l1": 0.1, "l2": -1}, r"L1L2: expected parameter 'l2'"),
        ({"name": "l1", "l2": 0.1}, r"unknown parameter\(s\) \['l2'\] for regularizer 'l1'"),
        ({"name": "L1"}, r"unknown regularizer 'L1' .*expected one of: l1, l1_l2, l1l2, l2"),
        ({"l1": 0.1}, r"config of argument 'bias_regularizer' to have a 'name' key"),
    ],
)
def test_bad_configs_raise_value_error(spec, pattern):
    with pytest.raises(ValueError, match=r"^GRU: .*" + pattern):
        get_regularizer(spec, owner="GRU", argument="bias_regularizer")


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        (0.01, r"'bias_regularizer' to be None, a regularizer name .*got float"),
        (L1, r"got ABCMeta"),
        ({"name": "l1", "l1": "0.1"}, r"L1: expected parameter 'l1' to be a real number, got str"),
    ],
)
def test_bad_types_raise_type_error(spec, pattern):
    with pytest.raises(TypeError, match=r"^GRU: .*" + pattern):
        get_regularizer(spec, owner="GRU", argument="bias_regularizer")


def test_direct_construction_validates():
    with pytest.raises(ValueError, match=r"^L1L2: expected parameter 'l1'"):
        L1L2(l1=-0.01)


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on its torch backend, or a skip saying why not."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"needs Keras' torch backend, got {keras.backend.backend()!r}")
    return keras


@pytest.mark.parametrize(
    ("ours", "keras_config"),
    [
        ("l1", {"class_name": "L1", "config": {}}),
        ("l2", {"class_name": "L2", "config": {}}),
        # Keras documents its string 'l1_l2' as L1L2(0.01, 0.01), which "l1l2" is here.
        ("l1l2", {"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.01}}),
        (L1(0.3), {"class_name": "L1", "config": {"l1": 0.3}}),
        (L2(0.7), {"class_name": "L2", "config": {"l2": 0.7}}),
        (L1L2(0.2, 0.05), {"class_name": "L1L2", "config": {"l1": 0.2, "l2": 0.05}}),
        (L1L2(), {"class_name": "L1L2", "config": {}}),
    ],
)
def test_matches_keras(keras, ours, keras_config):
    """Equal penalties on torch's (out, in) weight and on Keras' transposed (in, out) kernel."""
    torch.manual_seed(0)
    weight = torch.randn(12, 5)
    theirs = keras.regularizers.get(keras_config)(weight.T.contiguous())
    expected = torch.as_tensor(theirs).cpu()
    torch.testing.assert_close(get_regularizer(ours)(weight), expected, rtol=1e-6, atol=1e-7)

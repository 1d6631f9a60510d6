"""Tests for rnnkit.nn.constraints: projections per output unit, purity, configs, errors, Keras."""

import dataclasses
import json
import math
import os

import pytest
import torch

from rnnkit.nn.constraints import (
    CONSTRAINTS,
    EPSILON,
    Constraint,
    MaxNorm,
    MinMaxNorm,
    NonNeg,
    UnitNorm,
    get_constraint,
)


def row_norms(weight: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(weight, dim=-1)


def weight_with_row_norms(*norms: float) -> torch.Tensor:
    """A (len(norms), 6) float64 weight whose row r has norm norms[r]."""
    torch.manual_seed(0)
    directions = torch.randn(len(norms), 6, dtype=torch.float64)
    directions /= row_norms(directions)[:, None]
    return directions * torch.tensor(norms, dtype=torch.float64)[:, None]


def test_names_and_epsilon():
    assert CONSTRAINTS == ("max_norm", "min_max_norm", "non_neg", "unit_norm")
    assert EPSILON == 1e-7


def test_max_norm_caps_each_output_unit():
    weight = weight_with_row_norms(0.5, 2.0, 5.0)
    constrained = MaxNorm(1.0)(weight)
    torch.testing.assert_close(
        row_norms(constrained),
        torch.tensor([0.5, 1.0, 1.0], dtype=torch.float64),
        atol=1e-6,
        rtol=0,
    )
    # Directions are kept; rows under the cap move only by the epsilon factor n / (ε + n).
    torch.testing.assert_close(constrained[0], weight[0] * 0.5 / (EPSILON + 0.5))
    torch.testing.assert_close(constrained[2], weight[2] / (EPSILON + 5.0))


def test_unit_norm():
    weight = weight_with_row_norms(0.5, 3.0)
    constrained = UnitNorm()(weight)
    torch.testing.assert_close(
        row_norms(constrained), torch.ones(2, dtype=torch.float64), atol=1e-6, rtol=0
    )


def test_min_max_norm_strict_and_partial_rate():
    weight = weight_with_row_norms(0.1, 1.0, 4.0)
    strict = MinMaxNorm(min_value=0.5, max_value=2.0)(weight)
    torch.testing.assert_close(
        row_norms(strict), torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64), atol=1e-6, rtol=0
    )
    partial = MinMaxNorm(min_value=0.5, max_value=2.0, rate=0.5)(weight)
    torch.testing.assert_close(
        row_norms(partial), torch.tensor([0.3, 1.0, 3.0], dtype=torch.float64), atol=1e-6, rtol=0
    )


def test_non_neg():
    weight = torch.tensor([[-1.0, 0.0, 2.0], [3.0, -0.5, -0.0]])
    expected = torch.tensor([[0.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    assert torch.equal(NonNeg()(weight), expected)


def test_one_dimensional_uses_whole_vector():
    bias = torch.tensor([3.0, 4.0], dtype=torch.float64)
    torch.testing.assert_close(MaxNorm(1.0)(bias), bias * 1.0 / (EPSILON + 5.0), rtol=0, atol=1e-15)
    torch.testing.assert_close(UnitNorm()(bias), bias / (EPSILON + 5.0), rtol=0, atol=1e-15)


def test_zero_rows_stay_zero():
    weight = torch.zeros(2, 3)
    for constraint in (MaxNorm(), UnitNorm(), MinMaxNorm()):
        assert torch.equal(constraint(weight), weight)


@pytest.mark.parametrize("constraint", [MaxNorm(0.5), NonNeg(), UnitNorm(), MinMaxNorm(0.2, 0.4)])
def test_pure(constraint):
    weight = torch.randn(4, 3)
    before = weight.clone()
    constrained = constraint(weight)
    assert torch.equal(weight, before)
    assert constrained.data_ptr() != weight.data_ptr()
    assert constrained.shape == weight.shape
    assert constrained.dtype == weight.dtype


@pytest.mark.parametrize("constraint", [MaxNorm(), UnitNorm(), MinMaxNorm()])
def test_norm_constraints_need_1d_or_2d(constraint):
    name = type(constraint).__name__
    with pytest.raises(ValueError, match=rf"^{name}: expected a 1-D or 2-D weight, got 3-D"):
        constraint(torch.ones(2, 2, 2))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("max_norm", MaxNorm(2.0)),
        ("non_neg", NonNeg()),
        ("unit_norm", UnitNorm()),
        ("min_max_norm", MinMaxNorm(0.0, 1.0, 1.0)),
        ({"name": "max_norm", "max_value": 3}, MaxNorm(3.0)),
        ({"name": "min_max_norm", "rate": 0.5}, MinMaxNorm(rate=0.5)),
    ],
)
def test_specs(spec, expected):
    assert get_constraint(spec) == expected


@pytest.mark.parametrize(
    "constraint", [MaxNorm(), MaxNorm(0.3), NonNeg(), UnitNorm(), MinMaxNorm(0.1, 0.9, 0.25)]
)
def test_config_round_trip_through_json(constraint):
    config = constraint.to_config()
    assert config["name"] == constraint.name
    assert get_constraint(json.loads(json.dumps(config))) == constraint


def test_config_form():
    assert MaxNorm(3).to_config() == {"name": "max_norm", "max_value": 3.0}
    assert NonNeg().to_config() == {"name": "non_neg"}


def test_none_and_objects_pass_through():
    assert get_constraint(None) is None
    constraint = MaxNorm(1.0)
    assert get_constraint(constraint) is constraint
    assert isinstance(constraint, Constraint)
    with pytest.raises(dataclasses.FrozenInstanceError):
        constraint.max_value = 2.0  # type: ignore[misc]


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as error:
        get_constraint("maxnorm", owner="LSTM", argument="kernel_constraint")
    assert str(error.value) == (
        "LSTM: unknown constraint 'maxnorm' for argument 'kernel_constraint'; "
        "expected one of: max_norm, min_max_norm, non_neg, unit_norm"
    )


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        (
            {"name": "max_norm", "max_value": 0},
            r"MaxNorm: expected parameter 'max_value' to be a finite number > 0, got 0",
        ),
        ({"name": "max_norm", "max_value": math.nan}, r"'max_value' to be a finite number"),
        ({"name": "min_max_norm", "min_value": -0.1}, r"'min_value' to be a finite number >= 0"),
        ({"name": "min_max_norm", "rate": 0.0}, r"'rate' to be a finite number > 0 and <= 1"),
        ({"name": "min_max_norm", "rate": 1.5}, r"'rate' to be a finite number > 0 and <= 1"),
        (
            {"name": "min_max_norm", "min_value": 2.0, "max_value": 1.0},
            r"MinMaxNorm: expected min_value <= max_value, got min_value=2.0 and max_value=1.0",
        ),
        ({"name": "non_neg", "axis": 0}, r"unknown parameter\(s\) \['axis'\] for constraint"),
        ({"max_value": 2.0}, r"constraint config of argument 'recurrent_constraint' .*'name' key"),
    ],
)
def test_bad_configs_raise_value_error(spec, pattern):
    with pytest.raises(ValueError, match=r"^GRU: .*" + pattern):
        get_constraint(spec, owner="GRU", argument="recurrent_constraint")


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        (2.0, r"'recurrent_constraint' to be None, a constraint name .*got float"),
        (MaxNorm, r"got ABCMeta"),
        ({"name": "max_norm", "max_value": None}, r"'max_value' to be a real number, got NoneType"),
    ],
)
def test_bad_types_raise_type_error(spec, pattern):
    with pytest.raises(TypeError, match=r"^GRU: .*" + pattern):
        get_constraint(spec, owner="GRU", argument="recurrent_constraint")


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
        ("max_norm", {"class_name": "MaxNorm", "config": {}}),
        (MaxNorm(0.7), {"class_name": "MaxNorm", "config": {"max_value": 0.7}}),
        ("non_neg", {"class_name": "NonNeg", "config": {}}),
        ("unit_norm", {"class_name": "UnitNorm", "config": {}}),
        ("min_max_norm", {"class_name": "MinMaxNorm", "config": {}}),
        (
            MinMaxNorm(0.6, 1.2, 0.3),
            {
                "class_name": "MinMaxNorm",
                "config": {"min_value": 0.6, "max_value": 1.2, "rate": 0.3},
            },
        ),
    ],
)
@pytest.mark.parametrize(("shape", "scale"), [((4 * 8, 5), 1.0), ((3 * 8,), 0.1), ((3 * 8,), 1.0)])
def test_matches_keras_on_transposed_kernel(keras, ours, keras_config, shape, scale):
    """Our (out, in) weight, constrained, equals Keras' constrained (in, out) kernel, transposed."""
    torch.manual_seed(0)
    # Row norms spread on both sides of the bounds: rows scaled by 0.05 .. 3.
    row_scales = torch.linspace(0.05, 3.0, shape[0]).reshape(shape[:1] + (1,) * (len(shape) - 1))
    weight = scale * row_scales * torch.randn(shape)
    kernel = weight.T.contiguous() if weight.dim() == 2 else weight  # Keras' (in, out)
    theirs = torch.as_tensor(keras.constraints.get(keras_config)(kernel)).cpu()
    expected = theirs.T if weight.dim() == 2 else theirs
    torch.testing.assert_close(get_constraint(ours)(weight), expected, rtol=1e-6, atol=1e-6)

"""rnnkit's activations in ONNX: every built-in has a form, and the operators' attributes."""

import pytest

pytest.importorskip("onnx", reason="the onnx extra is not installed")

from rnnkit.export.activations import (
    ONNX_ACTIVATIONS,
    cell_activations,
    onnx_activation,
    operator_attributes,
)
from rnnkit.nn.activations import ACTIVATIONS, Activation
from rnnkit.nn.config import CellConfig


def test_every_builtin_activation_has_an_onnx_form():
    assert set(ONNX_ACTIVATIONS) == set(ACTIVATIONS)


def test_alpha_and_beta_list_only_the_activations_that_take_them():
    activations = [ONNX_ACTIVATIONS[name] for name in ("sigmoid", "hard_sigmoid", "linear")]
    assert operator_attributes(activations) == {
        "activations": ["Sigmoid", "HardSigmoid", "Affine"],
        "activation_alpha": [1.0 / 6.0, 1.0],
        "activation_beta": [0.5, 0.0],
    }
    assert operator_attributes([ONNX_ACTIVATIONS["tanh"]]) == {"activations": ["Tanh"]}


def test_cell_activations_follow_the_operator_order():
    cell = CellConfig(kind="lstm", input_size=2, hidden_size=3,
                      recurrent_activation="hard_sigmoid_v2", activation="softsign")
    names = [a.operator_name for a in cell_activations(cell)]
    assert names == ["HardSigmoid", "Softsign", "Softsign"]


def test_a_builtin_name_on_other_functions_is_refused():
    impostor = Activation("tanh", ACTIVATIONS["relu"].fn, ACTIVATIONS["relu"].grad_from_output)
    with pytest.raises(ValueError, match=r"LSTM: cannot export activation='tanh'.*custom"):
        onnx_activation(impostor, owner="LSTM", argument="activation")

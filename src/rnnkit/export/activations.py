"""rnnkit's activations as ONNX: attributes of the recurrent operators, and element-wise nodes.

Every built-in activation of :mod:`rnnkit.nn.activations` has an exact ONNX form, both as an
entry of the ``activations`` attribute of ONNX's ``RNN``/``GRU``/``LSTM`` operators and as a
node of its own (for the ``Scan`` bodies):

================  ==========================  =======================================
rnnkit            y = f(x)                    ONNX
================  ==========================  =======================================
sigmoid           1 / (1 + e^(-x))            Sigmoid
tanh              tanh(x)                     Tanh
relu              max(x, 0)                   Relu
linear            x                           Affine(alpha=1, beta=0); node Identity
softsign          x / (1 + |x|)               Softsign
hard_sigmoid      relu6(x + 3) / 6            HardSigmoid(alpha=1/6, beta=1/2)
hard_sigmoid_v2   clip(0.2 x + 0.5, 0, 1)     HardSigmoid(alpha=0.2, beta=1/2)
================  ==========================  =======================================

ONNX's ``HardSigmoid`` is ``max(0, min(1, alpha x + beta))``: with alpha 1/6 and beta 1/2 it
is ``clip(x/6 + 1/2, 0, 1) = relu6(x + 3) / 6``. A custom :class:`Activation` (a user's
function, or a built-in's name on other functions) has no ONNX form: :func:`onnx_activation`
refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from rnnkit.export.graph import GraphBuilder
from rnnkit.nn.activations import ACTIVATIONS, Activation, builtin_name
from rnnkit.nn.config import CellConfig

__all__ = ["ONNX_ACTIVATIONS", "OnnxActivation", "apply_activation", "cell_activations",
           "onnx_activation", "operator_attributes"]


class OnnxActivation(NamedTuple):
    """One activation in ONNX: its name in the recurrent operators' ``activations`` list, its
    ``alpha``/``beta`` there (``None``: the function takes none), and its element-wise op."""

    operator_name: str
    alpha: float | None = None
    beta: float | None = None
    node_op: str = ""

    @property
    def op(self) -> str:
        """The element-wise node computing it (``Identity`` for ``linear``)."""
        return self.node_op or self.operator_name


ONNX_ACTIVATIONS: Mapping[str, OnnxActivation] = MappingProxyType({
    "sigmoid": OnnxActivation("Sigmoid"),
    "tanh": OnnxActivation("Tanh"),
    "relu": OnnxActivation("Relu"),
    "linear": OnnxActivation("Affine", 1.0, 0.0, node_op="Identity"),
    "softsign": OnnxActivation("Softsign"),
    "hard_sigmoid": OnnxActivation("HardSigmoid", 1.0 / 6.0, 0.5),
    "hard_sigmoid_v2": OnnxActivation("HardSigmoid", 0.2, 0.5),
})
"""The ONNX form of every built-in activation, by rnnkit name (read-only)."""


def onnx_activation(activation: Activation, *, owner: str, argument: str) -> OnnxActivation:
    """The ONNX form of ``activation``.

    Raises:
        ValueError: ``activation`` is a custom :class:`Activation`, which has no ONNX form;
            the message names ``owner``, ``argument`` and the activation.
    """
    name = builtin_name(activation)
    if name is None:
        raise ValueError(
            f"{owner}: cannot export {argument}={activation.name!r} to ONNX: it is a custom "
            f"Activation, which has no ONNX form; use one of: {', '.join(sorted(ACTIVATIONS))}"
        )
    return ONNX_ACTIVATIONS[name]


def cell_activations(cell: CellConfig) -> list[OnnxActivation]:
    """The activations of one direction of ``cell`` in ONNX's operator order: RNN ``f``;
    GRU ``f, g``; LSTM ``f, g, h`` (``f`` the gates, ``g`` the candidate, ``h`` the cell
    output); ``f`` is rnnkit's ``recurrent_activation``, ``g`` and ``h`` its ``activation``.

    Raises:
        ValueError: as :func:`onnx_activation`, for an activation the cell uses.
    """
    owner = cell.owner
    activation = onnx_activation(cell.activation, owner=owner, argument="activation")
    if cell.kind == "rnn":
        return [activation]
    gate = onnx_activation(cell.recurrent_activation, owner=owner,
                           argument="recurrent_activation")
    return [gate, activation] if cell.kind == "gru" else [gate, activation, activation]


def operator_attributes(activations: list[OnnxActivation]) -> dict[str, list]:
    """The ``activations``, ``activation_alpha`` and ``activation_beta`` attributes of an ONNX
    recurrent operator for ``activations`` (in the operator's order, directions one after
    the other).

    ONNX consumes the alpha and beta lists in order, one value per activation that takes one,
    so only those activations contribute.
    """
    attributes: dict[str, list] = {"activations": [a.operator_name for a in activations]}
    alphas = [a.alpha for a in activations if a.alpha is not None]
    betas = [a.beta for a in activations if a.beta is not None]
    if alphas:
        attributes["activation_alpha"] = alphas
    if betas:
        attributes["activation_beta"] = betas
    return attributes


def apply_activation(builder: GraphBuilder, activation: OnnxActivation, x: str) -> str:
    """A node computing ``activation`` element-wise on ``x``; returns its output."""
    if activation.op == "HardSigmoid":
        return builder.node("HardSigmoid", [x], alpha=activation.alpha, beta=activation.beta)
    return builder.node(activation.op, [x])

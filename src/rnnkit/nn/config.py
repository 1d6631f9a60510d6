"""Frozen configurations of recurrent cells and layers.

A :class:`CellConfig` holds the math of one cell (sizes, activations, initializers,
regularizers, constraints, noise and normalisation options); a :class:`LayerConfig` stacks
cells into layers and directions. Both validate on construction, round-trip through
``to_dict``/``from_dict`` (JSON-serialisable) and refuse unknown keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rnnkit.configs import (
    PROBABILITY,
    ValidatedConfig,
    at_least,
    choice,
    config_from_dict,
    flag,
    positive_int,
    probability,
)
from rnnkit.nn.activations import ACTIVATIONS, Activation, builtin_name, get_activation
from rnnkit.nn.constraints import Constraint, get_constraint
from rnnkit.nn.initializers import Initializer, get_initializer
from rnnkit.nn.regularizers import Regularizer, get_regularizer

# Gate order per cell kind, in the order the gates are stacked along dim 0 of the weights
# (torch.nn's layout): LSTM i,f,g,o; GRU r,z,n; a vanilla RNN has one "gate", its new state.
GATES: Mapping[str, tuple[str, ...]] = {
    "rnn": ("h",),
    "lstm": ("i", "f", "g", "o"),
    "gru": ("r", "z", "n"),
}
CELL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
IMPLS = ("auto", "native", "bptt", "reference")


def _spec_to_config(spec: Any) -> Any:
    return None if spec is None else spec.to_config()


@dataclass(frozen=True)
class CellConfig(ValidatedConfig):
    """Everything that defines one recurrent cell's equations and parameters.

    ``kind`` is ``"rnn"``, ``"lstm"`` or ``"gru"``. String or dict specs given for activations,
    initializers, regularizers and constraints are resolved to objects on construction.
    ``zoneout`` is one probability for h (and c), or a pair ``(p_h, p_c)`` for an LSTM.
    ``peephole`` (LSTM only) adds Gers & Schmidhuber's connections from the cell state to the
    gates: ``w_ci ⊙ c`` and ``w_cf ⊙ c`` inside i and f, ``w_co ⊙ c'`` inside o.
    """

    kind: str = choice(tuple(GATES))
    input_size: int = positive_int()
    hidden_size: int = positive_int()
    bias: bool = flag(True)
    proj_size: int = at_least(0, 0)
    activation: Activation | str = "tanh"
    recurrent_activation: Activation | str = "sigmoid"
    kernel_initializer: Initializer | str | dict = "torch_default"
    recurrent_initializer: Initializer | str | dict = "torch_default"
    bias_initializer: Initializer | str | dict = "torch_default"
    unit_forget_bias: bool = flag(False)
    kernel_regularizer: Regularizer | str | dict | None = None
    recurrent_regularizer: Regularizer | str | dict | None = None
    bias_regularizer: Regularizer | str | dict | None = None
    kernel_constraint: Constraint | str | dict | None = None
    recurrent_constraint: Constraint | str | dict | None = None
    bias_constraint: Constraint | str | dict | None = None
    input_dropout: float = probability(0.0)
    recurrent_dropout: float = probability(0.0)
    layer_norm: bool = flag(False)
    zoneout: float | tuple[float, float] = 0.0
    weight_drop: float = probability(0.0)
    reset_after: bool = flag(True)
    peephole: bool = flag(False)
    owner: str = field(default="", compare=False)

    def _owner(self) -> str:
        """Errors name the layer class the user built (``LSTM``), or ``owner`` when given."""
        return self.owner

    def __post_init__(self) -> None:
        owner = self.owner or CELL_NAMES.get(self.kind, type(self).__name__)
        object.__setattr__(self, "owner", owner)
        super().__post_init__()
        if self.proj_size and self.kind != "lstm":
            raise ValueError(f"{owner}: proj_size is only supported by LSTM, got {self.proj_size}")
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"{owner}: proj_size has to be smaller than hidden_size, "
                f"got proj_size={self.proj_size} and hidden_size={self.hidden_size}"
            )
        if self.peephole and self.kind != "lstm":
            raise ValueError(f"{owner}: peephole applies to LSTM only")
        if self.unit_forget_bias and self.kind != "lstm":
            raise ValueError(f"{owner}: unit_forget_bias applies to LSTM only")
        if self.unit_forget_bias and not self.bias:
            raise ValueError(f"{owner}: unit_forget_bias=True needs bias=True (use_bias=True)")
        self._resolve_zoneout(owner)
        for name in ("activation", "recurrent_activation"):
            resolved = get_activation(getattr(self, name), owner=owner, argument=name)
            object.__setattr__(self, name, resolved)
        for name in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            resolved = get_initializer(getattr(self, name), owner=owner, argument=name)
            object.__setattr__(self, name, resolved)
        for name in ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer"):
            resolved = get_regularizer(getattr(self, name), owner=owner, argument=name)
            object.__setattr__(self, name, resolved)
        for name in ("kernel_constraint", "recurrent_constraint", "bias_constraint"):
            resolved = get_constraint(getattr(self, name), owner=owner, argument=name)
            object.__setattr__(self, name, resolved)

    def _resolve_zoneout(self, owner: str) -> None:
        probabilities = self.zoneout if isinstance(self.zoneout, (tuple, list)) else (self.zoneout,)
        if len(probabilities) not in (1, 2) or (len(probabilities) == 2 and self.kind != "lstm"):
            raise ValueError(
                f"{owner}: zoneout should be a probability, or (p_h, p_c) for an LSTM, "
                f"got {self.zoneout!r}"
            )
        for zoneout in probabilities:
            PROBABILITY(owner, "zoneout", zoneout)
        if len(probabilities) == 2:
            object.__setattr__(self, "zoneout", tuple(float(p) for p in probabilities))
        else:
            object.__setattr__(self, "zoneout", float(probabilities[0]))

    @property
    def gates(self) -> tuple[str, ...]:
        """Gate names in weight-stacking order."""
        return GATES[self.kind]

    @property
    def num_gates(self) -> int:
        return len(GATES[self.kind])

    @property
    def output_size(self) -> int:
        """Size of h: proj_size when the LSTM projects, else hidden_size."""
        return self.proj_size or self.hidden_size

    @property
    def zoneout_h(self) -> float:
        return self.zoneout[0] if isinstance(self.zoneout, tuple) else self.zoneout

    @property
    def zoneout_c(self) -> float:
        return self.zoneout[1] if isinstance(self.zoneout, tuple) else self.zoneout

    @property
    def is_torch_standard(self) -> bool:
        """True when the cell computes exactly what torch.nn's fused kernels compute.

        Weight drop qualifies: it only changes the recurrent weight a forward pass uses.
        """
        activation = builtin_name(self.activation)
        standard_activation = (
            activation in ("tanh", "relu")
            if self.kind == "rnn"
            else activation == "tanh" and builtin_name(self.recurrent_activation) == "sigmoid"
        )
        return (
            standard_activation
            and self.reset_after
            and not self.peephole
            and not self.layer_norm
            and self.input_dropout == 0.0
            and self.recurrent_dropout == 0.0
            and self.zoneout_h == 0.0
            and self.zoneout_c == 0.0
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; ``CellConfig.from_dict`` rebuilds an equal config."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "owner":
                continue
            if isinstance(value, Activation):
                if builtin_name(value) is None:
                    raise ValueError(
                        f"{self.owner}: {f.name}={value.name!r} is a custom Activation, which "
                        f"cannot be saved; use one of: {', '.join(sorted(ACTIVATIONS))}"
                    )
                value = value.name
            elif isinstance(value, (Initializer, Regularizer, Constraint)):
                value = _spec_to_config(value)
            elif isinstance(value, tuple):
                value = list(value)
            data[f.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellConfig:
        return config_from_dict(cls, data)


@dataclass(frozen=True)
class LayerConfig(ValidatedConfig):
    """A stack of ``num_layers`` cells, optionally bidirectional, as torch.nn.RNN/LSTM/GRU.

    ``cell.input_size`` is the first layer's input size; layer ``k > 0`` takes the
    concatenated outputs of layer ``k - 1``'s directions (``D * output_size`` features).
    ``dropout`` is torch's: applied to the outputs of every layer except the last.
    """

    cell: CellConfig
    num_layers: int = positive_int(1)
    batch_first: bool = flag(False)
    dropout: float = probability(0.0)
    bidirectional: bool = flag(False)
    go_backwards: bool = flag(False)
    impl: str = choice(IMPLS, "auto")

    def _owner(self) -> str:
        return self.cell.owner

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def layer_cell(self, layer: int) -> CellConfig:
        """The cell configuration of layer ``layer`` (its input size follows the stack)."""
        if layer == 0:
            return self.cell
        input_size = self.num_directions * self.cell.output_size
        return dataclasses.replace(self.cell, input_size=input_size)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerConfig:
        if "cell" not in data:
            raise ValueError("LayerConfig: missing key 'cell'")
        return config_from_dict(cls, {**data, "cell": CellConfig.from_dict(data["cell"])})

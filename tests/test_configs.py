"""Tests for rnnkit.configs: each field check accepts and refuses with the exact message, unknown
keys, round trips, and every config that adopts the base names its class and field."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pytest

from rnnkit.configs import (
    ValidatedConfig,
    at_least,
    choice,
    flag,
    number,
    positive_int,
    probability,
)
from rnnkit.nn.config import CellConfig, LayerConfig


@dataclass(frozen=True)
class Example(ValidatedConfig):
    size: int = positive_int(4)
    count: int = at_least(0, 0)
    dropout: float = probability(0.0)
    lr: float = number(1.0, above=0)
    decay: float = number(0.5, above=0, maximum=1)
    clip: float = number(0.0, minimum=0)
    top_k: int | None = positive_int(None, optional=True)
    optimizer: str = choice(("sgd", "adam"), "sgd")
    shuffle: bool = flag(True)
    names: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "names", tuple(self.names))


@pytest.mark.parametrize("values", [
    {"size": 1}, {"count": 0}, {"dropout": 0.0}, {"dropout": 0.999}, {"dropout": 0},
    {"lr": 1e-9}, {"lr": 3}, {"decay": 1.0}, {"clip": 0}, {"top_k": None}, {"top_k": 5},
    {"optimizer": "adam"}, {"shuffle": False},
])
def test_accepted_values(values):
    config = Example(**values)
    for name, value in values.items():
        assert getattr(config, name) == value


@pytest.mark.parametrize("values,error,message", [
    ({"size": 0}, ValueError, "Example: size must be an int >= 1, got 0"),
    ({"size": True}, TypeError, "Example: size must be an int >= 1, got True"),
    ({"size": 2.0}, TypeError, "Example: size must be an int >= 1, got 2.0"),
    ({"count": -1}, ValueError, "Example: count must be an int >= 0, got -1"),
    ({"dropout": 1.0}, ValueError, "Example: dropout must be a number in [0, 1), got 1.0"),
    ({"dropout": -0.1}, ValueError, "Example: dropout must be a number in [0, 1), got -0.1"),
    ({"dropout": math.nan}, ValueError, "Example: dropout must be a number in [0, 1), got nan"),
    ({"dropout": "0.1"}, TypeError, "Example: dropout must be a number in [0, 1), got '0.1'"),
    ({"dropout": False}, TypeError, "Example: dropout must be a number in [0, 1), got False"),
    ({"lr": 0}, ValueError, "Example: lr must be a finite number > 0, got 0"),
    ({"lr": math.inf}, ValueError, "Example: lr must be a finite number > 0, got inf"),
    ({"lr": math.nan}, ValueError, "Example: lr must be a finite number > 0, got nan"),
    ({"decay": 0.0}, ValueError, "Example: decay must be a number in (0, 1], got 0.0"),
    ({"decay": 1.5}, ValueError, "Example: decay must be a number in (0, 1], got 1.5"),
    ({"clip": -1.0}, ValueError, "Example: clip must be a finite number >= 0, got -1.0"),
    ({"top_k": 0}, ValueError, "Example: top_k must be an int >= 1 or None, got 0"),
    ({"top_k": 1.5}, TypeError, "Example: top_k must be an int >= 1 or None, got 1.5"),
    ({"optimizer": "rmsprop"}, ValueError,
     "Example: optimizer must be one of sgd, adam, got 'rmsprop'"),
    ({"shuffle": 1}, TypeError, "Example: shuffle must be a bool, got 1"),
])
def test_refused_values_name_class_field_expected_and_given(values, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        Example(**values)


def test_unknown_keys_are_errors():
    with pytest.raises(ValueError, match=r"^Example: unknown keys \['colour'\]; expected some "
                                         r"of \['clip', "):
        Example.from_dict({"size": 2, "colour": "red"})


def test_round_trip_through_a_plain_dict():
    config = Example(size=3, top_k=2, optimizer="adam", names=["x"], options={"a": [1, 2]})
    data = config.to_dict()
    assert data == {"size": 3, "count": 0, "dropout": 0.0, "lr": 1.0, "decay": 0.5, "clip": 0.0,
                    "top_k": 2, "optimizer": "adam", "shuffle": True, "names": ["x"],
                    "options": {"a": [1, 2]}}
    assert Example.from_dict(data) == config


def test_nested_configs_become_dicts():
    layer = LayerConfig(CellConfig("gru", 3, 4), num_layers=2)
    data = layer.to_dict()
    assert data["cell"]["kind"] == "gru" and data["num_layers"] == 2
    assert LayerConfig.from_dict(data) == layer


@pytest.mark.parametrize("build,error,message", [
    (lambda: CellConfig("tcn", 3, 4), ValueError,
     "CellConfig: kind must be one of rnn, lstm, gru, got 'tcn'"),
    (lambda: CellConfig("lstm", 3, 0), ValueError, "LSTM: hidden_size must be an int >= 1, got 0"),
    (lambda: CellConfig("gru", 3, 4, layer_norm=1, owner="Encoder"), TypeError,
     "Encoder: layer_norm must be a bool, got 1"),
    (lambda: LayerConfig(CellConfig("rnn", 3, 4), dropout=1.0), ValueError,
     "RNN: dropout must be a number in [0, 1), got 1.0"),
    (lambda: LayerConfig(CellConfig("rnn", 3, 4), impl="fast"), ValueError,
     "RNN: impl must be one of auto, native, bptt, reference, got 'fast'"),
])
def test_layer_configs_name_the_layer_class(build, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        build()

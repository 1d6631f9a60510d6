"""Tests for rnnkit.configs: each field check accepts and refuses with the exact message, unknown
keys, round trips, and every config that adopts the base names its class and field."""

from __future__ import annotations

import json
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
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.models.sampling import SamplingConfig
from rnnkit.models.seq2seq import Seq2SeqConfig
from rnnkit.models.tagger import TaggerConfig
from rnnkit.nn.config import CellConfig, LayerConfig
from rnnkit.train.config import TrainConfig


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


@pytest.mark.parametrize("build,error,message", [
    (lambda: LanguageModelConfig(vocab_size=0), ValueError,
     "LanguageModelConfig: vocab_size must be an int >= 1, got 0"),
    (lambda: LanguageModelConfig(vocab_size=9, init_range=-0.1), ValueError,
     "LanguageModelConfig: init_range must be a finite number >= 0, got -0.1"),
    (lambda: LanguageModelConfig(vocab_size=9, tie_weights=1), TypeError,
     "LanguageModelConfig: tie_weights must be a bool, got 1"),
    (lambda: ClassifierConfig(vocab_size=9, num_classes=2, pooling="sum"), ValueError,
     "ClassifierConfig: pooling must be one of last, mean, max, attention, got 'sum'"),
    (lambda: ClassifierConfig(vocab_size=9, num_classes=2, hidden_size=True), TypeError,
     "ClassifierConfig: hidden_size must be an int >= 1, got True"),
    (lambda: TaggerConfig(vocab_size=9, tags=("O",), char_encoder="none", word_dropout=1.0),
     ValueError, "TaggerConfig: word_dropout must be a number in [0, 1), got 1.0"),
    (lambda: TaggerConfig(vocab_size=9, tags=("O",), char_encoder="gru"), ValueError,
     "TaggerConfig: char_encoder must be one of none, cnn, lstm, got 'gru'"),
    (lambda: Seq2SeqConfig(source_vocab_size=5, target_vocab_size=5, attention="dot"),
     ValueError, "Seq2SeqConfig: attention must be one of bahdanau, luong, got 'dot'"),
    (lambda: Seq2SeqConfig(source_vocab_size=5, target_vocab_size=5, dropout=math.nan),
     ValueError, "Seq2SeqConfig: dropout must be a number in [0, 1), got nan"),
    (lambda: SamplingConfig(temperature=math.inf), ValueError,
     "SamplingConfig: temperature must be a finite number > 0, got inf"),
    (lambda: SamplingConfig(max_new_tokens=0), ValueError,
     "SamplingConfig: max_new_tokens must be an int >= 1, got 0"),
])
def test_model_configs_name_their_class_and_field(build, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        build()


@pytest.mark.parametrize("config", [
    LanguageModelConfig(vocab_size=9, rnn_options={"zoneout": 0.1}),
    ClassifierConfig(vocab_size=9, num_classes=3, subword_buckets=10),
    TaggerConfig(vocab_size=9, tags=["O", "B-X"], char_vocab_size=4),
    Seq2SeqConfig(source_vocab_size=5, target_vocab_size=6),
    SamplingConfig(top_k=3, banned_ids=[1, 2]),
])
def test_model_configs_round_trip_and_refuse_unknown_keys(config):
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert type(config).from_dict(data) == config
    with pytest.raises(ValueError, match=rf"^{type(config).__name__}: unknown keys \['colour'\]"):
        type(config).from_dict({**data, "colour": "red"})


@pytest.mark.parametrize("values,error,message", [
    ({"optimizer": "rmsprop"}, ValueError,
     "TrainConfig: optimizer must be one of sgd, adam, adamw, got 'rmsprop'"),
    ({"epochs": 0}, ValueError, "TrainConfig: epochs must be an int >= 1, got 0"),
    ({"lr_decay": 0}, ValueError, "TrainConfig: lr_decay must be a number in (0, 1], got 0"),
    ({"clip": math.nan}, ValueError, "TrainConfig: clip must be a finite number >= 0, got nan"),
    ({"patience": 1.5}, TypeError, "TrainConfig: patience must be an int >= 0, got 1.5"),
])
def test_train_config_names_its_class_and_field(values, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        TrainConfig(**values)


def test_train_config_round_trips():
    config = TrainConfig(optimizer="adam", lr=1e-3, schedule="cosine", max_minutes=1.5)
    assert TrainConfig.from_dict(config.to_dict()) == config

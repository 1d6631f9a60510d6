"""Command-line options that several tasks declare alike (the task contract includes each
task's arguments; the CLI adds the trainer's own)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def rnn_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE parsed as JSON when it is JSON (``true``, ``0.1``)."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_data_files(parser: argparse.ArgumentParser, what: str) -> argparse._ArgumentGroup:
    """The "data" group, opened with the options classify, tag and translate share:
    ``--data`` and ``--valid`` (files of ``what``), and the held-out split used without
    ``--valid`` (the language model holds out the end of its stream instead)."""
    data = parser.add_argument_group("data")
    data.add_argument("--data", help=f"{what} to train on; required unless --resume")
    data.add_argument("--valid", help=f"{what} to validate on; default: a held-out "
                                      "--valid-fraction of --data")
    data.add_argument("--valid-fraction", type=float, default=0.1,
                      help="share of --data held out for validation when --valid is absent")
    data.add_argument("--split-seed", type=int, default=0, help="seed of that held-out split")
    return data


def add_select_argument(parser: argparse.ArgumentParser, choices: tuple[str, ...],
                        default: str) -> None:
    """``--select``: the validation figure whose best epoch's weights are kept."""
    parser.add_argument("--select", choices=choices, default=default,
                        help="keep the weights of the epoch with the best validation value "
                             "of this (loss: the lowest validation loss)")


def add_recurrent_arguments(parser: argparse.ArgumentParser, *, embed: int, hidden: int,
                            layers: int, dropout: float, dropout_help: str = "dropout"
                            ) -> argparse._ArgumentGroup:
    """The "model" group, opened with the recurrent options the language model, classifier
    and tagger share: the cell, embedding and hidden sizes, layers, dropout and any
    ``rnnkit.nn`` layer option; read back by :func:`recurrent_options`."""
    model = parser.add_argument_group("model")
    model.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm")
    model.add_argument("--embed", type=int, default=embed, help="embedding size")
    model.add_argument("--hidden", type=int, default=hidden,
                       help="recurrent hidden size (per direction)")
    model.add_argument("--layers", type=int, default=layers, help="stacked recurrent layers")
    model.add_argument("--dropout", type=float, default=dropout, help=dropout_help)
    model.add_argument("--rnn-option", type=rnn_option, action="append", default=[],
                       metavar="KEY=VALUE",
                       help="any rnnkit.nn layer option, e.g. layer_norm=true or "
                            "recurrent_activation=hard_sigmoid (repeatable)")
    return model


def recurrent_options(args: argparse.Namespace) -> dict[str, Any]:
    """The model-config fields of :func:`add_recurrent_arguments`' options."""
    return {"cell": args.cell, "embed_size": args.embed, "hidden_size": args.hidden,
            "num_layers": args.layers, "dropout": args.dropout,
            "rnn_options": dict(args.rnn_option)}

"""Helpers several tasks share: held-out splits, label lookup, evaluation batches, the JSON
lists of labels and tags a model directory keeps."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.configs import number_check
from rnnkit.text import Vocab
from rnnkit.train.directory import ModelDirectoryError


def split_held_out(
    examples: Sequence[Any], fraction: float, seed: int
) -> tuple[list[Any], list[Any]]:
    """``(kept, held_out)``: a seeded random ``fraction`` of the examples held out."""
    order = np.random.default_rng(seed).permutation(len(examples))
    held = max(1, round(fraction * len(examples)))
    if held >= len(examples):
        raise ValueError(f"valid_fraction={fraction} of {len(examples)} examples leaves none "
                         "to train on; pass a validation file")
    return ([examples[i] for i in sorted(order[held:])],
            [examples[i] for i in sorted(order[:held])])


def check_held_out_fraction(config: Any) -> None:
    """Without a validation file (``config.valid``), ``config.valid_fraction`` of the
    training data is held out: it must leave data on both sides, in (0, 1)."""
    if config.valid is None:
        number_check(above=0, below=1)(type(config).__name__, "valid_fraction",
                                       config.valid_fraction)


def validation_source(train: str, valid: str | None, fraction: float) -> str:
    """How error messages name the validation data: its file, or the held-out share."""
    return valid or f"{train} (held-out {fraction:g})"


def label_ids(labels: Sequence[str], known: Sequence[str], source: str) -> list[int]:
    """Index of each label in ``known``; an unknown label is a ValueError listing them."""
    index = {label: position for position, label in enumerate(known)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"{source}: labels {unknown[:5]} were never seen in training; the "
                         f"model knows {list(known)}")
    return [index[label] for label in labels]


def ordered_batches(ids: Sequence[Sequence[int]], batch_size: int) -> list[list[int]]:
    """Index batches of similar lengths (sorted, no shuffling) for evaluation."""
    order = sorted(range(len(ids)), key=lambda index: len(ids[index]))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def require_tokens(vocab: Vocab, min_freq: int, source: str) -> Vocab:
    """``vocab``, unless it holds nothing but its specials: no token of ``source`` occurs
    ``min_freq`` times, and a model would learn nothing (a ValueError says so)."""
    if len(vocab) <= len(vocab.specials):
        raise ValueError(f"{source}: no token occurs at least min_freq={min_freq} times, so the "
                         f"vocabulary would hold only {', '.join(vocab.specials)}; lower "
                         "--min-freq")
    return vocab


def read_string_list(path: Path, what: str) -> list[str]:
    """A model directory's JSON list of strings (labels, tags); anything else is an error."""
    try:
        values = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelDirectoryError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise ModelDirectoryError(f"{path}: expected a JSON list of {what} strings")
    return values

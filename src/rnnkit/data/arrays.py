"""Padding into numpy arrays, for the code paths that run without torch (the pipelines'
text side, the ONNX runtime). ``pad_sequences`` and ``pad_nested`` give the same numbers as
LongTensors.

Shapes use the package's letters (see :mod:`rnnkit`): ``B`` sequences, ``T`` the padded
length, ``W`` the padded inner length of nested sequences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pad_array(sequences: Sequence[Sequence[int]], value: int = 0) -> np.ndarray:
    """Int64 ``(B, T)``: each sequence followed by ``value`` up to the longest.

    >>> pad_array([[1, 2, 3], [4]]).tolist()
    [[1, 2, 3], [4, 0, 0]]
    """
    width = max((len(sequence) for sequence in sequences), default=0)
    padded = np.full((len(sequences), width), value, dtype=np.int64)  # (B, T)
    for row, sequence in enumerate(sequences):
        padded[row, :len(sequence)] = sequence
    return padded


def pad_nested_array(groups: Sequence[Sequence[Sequence[int]]], value: int = 0) -> np.ndarray:
    """Int64 ``(B, T, W)``: a batch of sequences of id lists (a word's characters, a token's
    subword ids), ``T`` the longest sequence, ``W`` the longest list.

    >>> pad_nested_array([[[1, 2], [3]], [[4]]]).tolist()
    [[[1, 2], [3, 0]], [[4, 0], [0, 0]]]
    """
    steps = max((len(group) for group in groups), default=0)
    width = max((len(ids) for group in groups for ids in group), default=0)
    padded = np.full((len(groups), steps, width), value, dtype=np.int64)  # (B, T, W)
    for row, group in enumerate(groups):
        for step, ids in enumerate(group):
            padded[row, step, :len(ids)] = ids
    return padded


def lengths_array(sequences: Sequence[Sequence[int]]) -> np.ndarray:
    """Int64 ``(B,)``: the length of each sequence."""
    return np.asarray([len(sequence) for sequence in sequences], dtype=np.int64)

"""Padding and truncation to a fixed length (Keras ``pad_sequences`` semantics), lengths and
masks.

Shapes use the package's letters (see :mod:`rnnkit`): ``B`` the batch (number of sequences),
``T`` the padded length, ``W`` the padded inner length of nested sequences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rnnkit.data.arrays import pad_nested_array

_SIDES = ("pre", "post")


def _check_side(function: str, argument: str, side: str) -> None:
    if side not in _SIDES:
        raise ValueError(f"{function}: {argument} must be 'pre' or 'post', got {side!r}")


def _check_maxlen(function: str, maxlen: int | None) -> None:
    if maxlen is not None and (not isinstance(maxlen, int) or maxlen < 0):
        raise ValueError(f"{function}: maxlen must be None or an int >= 0, got {maxlen!r}")


def pad_sequences(
    seqs: Sequence[Sequence[int]],
    maxlen: int | None = None,
    padding: str = "post",
    truncating: str = "post",
    value: int = 0,
) -> torch.Tensor:
    """Pad or cut every sequence to ``maxlen`` (default: the longest) → LongTensor ``(B, T)``.

    As Keras ``pad_sequences``: ``padding="pre"`` puts the padding ``value`` before the ids,
    ``"post"`` after; ``truncating="pre"`` drops ids from the start of a long sequence,
    ``"post"`` from the end. (Keras defaults to ``"pre"`` for both; rnnkit pads after, which
    is what ``lengths=`` in the recurrent layers expects.)

    >>> pad_sequences([[1, 34, 21, 98, 10, 23, 9, 23]], maxlen=13)
    tensor([[ 1, 34, 21, 98, 10, 23,  9, 23,  0,  0,  0,  0,  0]])
    """
    _check_side("pad_sequences", "padding", padding)
    _check_side("pad_sequences", "truncating", truncating)
    _check_maxlen("pad_sequences", maxlen)
    lengths = [len(seq) for seq in seqs]
    width = max(lengths, default=0) if maxlen is None else maxlen
    padded = np.full((len(lengths), width), value, dtype=np.int64)  # (B, T)
    if width == 0:
        return torch.from_numpy(padded)
    for row, (seq, length) in enumerate(zip(seqs, lengths)):
        if length == 0:
            continue
        kept = seq[-width:] if truncating == "pre" else seq[:width]
        kept_length = min(length, width)
        if padding == "post":
            padded[row, :kept_length] = kept
        else:
            padded[row, width - kept_length :] = kept
    return torch.from_numpy(padded)


def pad_nested(groups: Sequence[Sequence[Sequence[int]]], value: int = 0) -> torch.Tensor:
    """Pad a batch of sequences of id lists (a word's characters, a token's subword ids) after
    the ids → LongTensor ``(B, T, W)``: ``T`` the longest sequence, ``W`` the longest list.

    >>> pad_nested([[[1, 2], [3]], [[4]]]).tolist()
    [[[1, 2], [3, 0]], [[4, 0], [0, 0]]]
    """
    return torch.from_numpy(pad_nested_array(groups, value))  # (B, T, W)


def sequence_lengths(seqs: Sequence[Sequence[int]], maxlen: int | None = None) -> torch.Tensor:
    """Lengths after truncation to ``maxlen``: LongTensor ``(B,)``."""
    _check_maxlen("sequence_lengths", maxlen)
    lengths = torch.tensor([len(seq) for seq in seqs], dtype=torch.long)  # (B,)
    return lengths if maxlen is None else lengths.clamp(max=maxlen)


def lengths_to_mask(
    lengths: torch.Tensor | Sequence[int], maxlen: int | None = None, padding: str = "post"
) -> torch.Tensor:
    """BoolTensor ``(B, T)``, True at real tokens: the first ``length`` positions of each row
    (the last ones for ``padding="pre"``); T is ``maxlen`` or the longest length."""
    _check_side("lengths_to_mask", "padding", padding)
    _check_maxlen("lengths_to_mask", maxlen)
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    if lengths.dim() != 1:
        raise ValueError(
            f"lengths_to_mask: lengths must be 1-D (B,), got shape {tuple(lengths.shape)}"
        )
    if bool((lengths < 0).any()):
        raise ValueError(f"lengths_to_mask: lengths must be >= 0, got {lengths.min().item()}")
    if maxlen is None:
        maxlen = int(lengths.max()) if len(lengths) else 0
    positions = torch.arange(maxlen)  # (T,)
    if padding == "pre":
        return positions.unsqueeze(0) >= (maxlen - lengths).unsqueeze(1)  # (B, T)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)

"""Padding, truncation, lengths and masks: the seed's example, Keras parity, properties."""

import os

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.data import lengths_to_mask, pad_nested, pad_sequences, sequence_lengths

SEQS = [[1, 2, 3, 4], [5], [], [6, 7]]


def test_seed_padding_example():
    padded = pad_sequences([[1, 34, 21, 98, 10, 23, 9, 23]], maxlen=13)
    assert padded.dtype == torch.long
    assert padded.tolist() == [[1, 34, 21, 98, 10, 23, 9, 23, 0, 0, 0, 0, 0]]


@pytest.mark.parametrize(
    ("padding", "truncating", "expected"),
    [
        ("post", "post", [[1, 2, 3], [5, 0, 0], [0, 0, 0], [6, 7, 0]]),
        ("post", "pre", [[2, 3, 4], [5, 0, 0], [0, 0, 0], [6, 7, 0]]),
        ("pre", "post", [[1, 2, 3], [0, 0, 5], [0, 0, 0], [0, 6, 7]]),
        ("pre", "pre", [[2, 3, 4], [0, 0, 5], [0, 0, 0], [0, 6, 7]]),
    ],
)
def test_padding_and_truncating_sides(padding, truncating, expected):
    assert (
        pad_sequences(SEQS, maxlen=3, padding=padding, truncating=truncating).tolist() == expected
    )


def test_default_length_is_the_longest_and_value_fills():
    assert pad_sequences([[1], [2, 3]], value=-1).tolist() == [[1, -1], [2, 3]]
    assert pad_sequences([], maxlen=4).shape == (0, 4)
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)


def test_accepts_arrays_and_tensors():
    padded = pad_sequences([np.array([1, 2]), torch.tensor([3])], maxlen=3)
    assert padded.tolist() == [[1, 2, 0], [3, 0, 0]]


sequences = st.lists(st.lists(st.integers(1, 1000), max_size=12), max_size=10)
sides = st.sampled_from(["pre", "post"])
maxlens = st.none() | st.integers(0, 15)


@given(sequences, maxlens, sides, sides)
def test_padded_length_is_exact(seqs, maxlen, padding, truncating):
    padded = pad_sequences(seqs, maxlen, padding, truncating)
    width = max(map(len, seqs), default=0) if maxlen is None else maxlen
    assert padded.shape == (len(seqs), width)
    assert (padded != 0).sum(dim=1).tolist() == [min(len(seq), width) for seq in seqs]


@given(sequences, maxlens, sides, sides)
def test_masks_agree_with_lengths_and_padding(seqs, maxlen, padding, truncating):
    padded = pad_sequences(seqs, maxlen, padding, truncating)
    lengths = sequence_lengths(seqs, maxlen)
    mask = lengths_to_mask(lengths, padded.shape[1], padding)
    assert mask.shape == padded.shape
    assert mask.sum(dim=1).tolist() == lengths.tolist()
    assert torch.equal(mask, padded != 0)  # ids are >= 1, so the mask is where ids are


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


# Keras itself fails on an empty list without maxlen and on maxlen=0 (its s[-0:] keeps all).
@given(
    seqs=sequences.filter(bool),
    maxlen=st.none() | st.integers(1, 15),
    padding=sides,
    truncating=sides,
)
def test_matches_keras_pad_sequences(keras, seqs, maxlen, padding, truncating):
    expected = keras.utils.pad_sequences(
        seqs, maxlen=maxlen, padding=padding, truncating=truncating, value=0
    )
    assert pad_sequences(seqs, maxlen, padding, truncating).tolist() == expected.tolist()


def test_mask_width_defaults_to_the_longest_length():
    assert lengths_to_mask([2, 0, 1]).tolist() == [
        [True, True],
        [False, False],
        [True, False],
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: pad_sequences(SEQS, padding="left"),
            "pad_sequences: padding must be 'pre' or 'post', got 'left'",
        ),
        (
            lambda: pad_sequences(SEQS, truncating=None),
            "truncating must be 'pre' or 'post', got None",
        ),
        (lambda: pad_sequences(SEQS, maxlen=-1), "maxlen must be None or an int >= 0, got -1"),
        (lambda: lengths_to_mask([[1, 2]]), r"lengths must be 1-D \(B,\), got shape \(1, 2\)"),
        (lambda: lengths_to_mask([2, -1]), "lengths must be >= 0, got -1"),
    ],
)
def test_bad_arguments_are_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_pad_nested_pads_steps_and_inner_lists_after_the_ids():
    padded = pad_nested([[[1, 2], [3]], [[4, 5, 6]], []])
    assert padded.dtype == torch.long and padded.shape == (3, 2, 3)
    assert padded.tolist() == [[[1, 2, 0], [3, 0, 0]], [[4, 5, 6], [0, 0, 0]],
                               [[0, 0, 0], [0, 0, 0]]]
    assert pad_nested([[[]]]).shape == (1, 1, 0)
    assert pad_nested([]).shape == (0, 0, 0)

"""Encoding with sentence markers, and one-hot vectors."""

import pytest
import torch

from rnnkit.data import encode, one_hot
from rnnkit.text import Vocab


def test_encode_wraps_in_sentence_markers_on_request():
    vocab = Vocab.build([["what", "are"]])
    assert encode(["what", "are", "zzz"], vocab) == [4, 5, vocab.unk_id]
    assert encode(["what"], vocab, bos=True, eos=True) == [vocab.bos_id, 4, vocab.eos_id]


def test_one_hot_adds_a_class_dimension():
    vectors = one_hot(torch.tensor([[0, 2], [1, 1]]), 3)  # (B, T) -> (B, T, V)
    assert vectors.shape == (2, 2, 3) and vectors.dtype == torch.float32
    assert vectors[0, 1].tolist() == [0.0, 0.0, 1.0]
    assert vectors.sum().item() == 4


def test_one_hot_rejects_ids_out_of_range():
    with pytest.raises(
        ValueError, match=r"one_hot: ids must lie in \[0, 3\), got values from 0 to 3"
    ):
        one_hot([0, 3], 3)
    with pytest.raises(ValueError, match="num_classes must be an int >= 1, got 0"):
        one_hot([0], 0)

"""Pretrained vectors aligned with a vocabulary."""

import pytest
import torch

from rnnkit.data import load_vectors
from rnnkit.text import Vocab

VOCAB = Vocab.build([["the", "cat", "Paris", "zebra"]])


def test_glove_file_aligned_with_vocab(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("the 1 2 3\ncat 4 5 6\nparis 7 8 9\nunused 0 0 0\n", encoding="utf-8")
    vectors = load_vectors(path, VOCAB)
    assert vectors.weights.shape == (len(VOCAB), 3) and vectors.weights.dtype == torch.float32
    assert vectors.weights[VOCAB["cat"]].tolist() == [4, 5, 6]
    assert vectors.weights[VOCAB["Paris"]].tolist() == [7, 8, 9]  # lowercase fallback
    assert vectors.weights[VOCAB.pad_id].abs().sum() == 0
    assert (vectors.found, vectors.missing, vectors.coverage) == (3, ["zebra"], 0.75)
    assert vectors.weights[VOCAB["zebra"]].abs().sum() > 0


def test_word2vec_header_and_tokens_with_spaces(tmp_path):
    path = tmp_path / "w2v.txt"
    path.write_text("3 2\nthe 1 2\nnew york 3 4\ncat 5 6\n", encoding="utf-8")
    vocab = Vocab.build([["the", "new york", "cat"]])
    vectors = load_vectors(path, vocab, lowercase_fallback=False, scale=0.0)
    assert vectors.weights[vocab["new york"]].tolist() == [3, 4]
    assert vectors.found == 3 and vectors.weights[vocab.unk_id].tolist() == [0, 0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("the 1 2 3\ncat 4 5\n", r"glove\.txt:2: expected a token and 3 values .*got 2 values"),
        ("the 1 2\ncat x y\n", r"glove\.txt:2: the values of 'cat' are not numbers"),
        ("", "holds no vectors"),
        ("the\n", r"glove\.txt:1: expected 'token v1 \.\.\. vD'"),
    ],
)
def test_bad_vector_files(tmp_path, content, message):
    path = tmp_path / "glove.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_vectors(path, VOCAB)

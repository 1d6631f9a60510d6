"""Vocab: order, limits, encode/decode, OOV rate, save/load and the errors around them."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.text import DEFAULT_SPECIALS, Vocab

CORPUS = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat"]]


def test_specials_come_first_then_frequency_then_first_appearance():
    vocab = Vocab.build(CORPUS)
    assert vocab.tokens == [*DEFAULT_SPECIALS, "the", "cat", "sat", "dog", "a"]
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    assert vocab.counts["the"] == 2 and vocab.counts["dog"] == 1


def test_max_size_includes_the_specials_and_min_freq_drops_rare_tokens():
    assert len(Vocab.build(CORPUS, max_size=6)) == 6
    assert Vocab.build(CORPUS, max_size=6).tokens[4:] == ["the", "cat"]
    assert Vocab.build(CORPUS, min_freq=2).tokens[4:] == ["the", "cat", "sat"]


def test_extra_specials_on_request_and_specials_in_text_are_not_repeated():
    vocab = Vocab.build([["<unk>", "x", "<mask>"]], specials=(*DEFAULT_SPECIALS, "<mask>"))
    assert vocab.tokens == [*DEFAULT_SPECIALS, "<mask>", "x"]
    assert vocab.counts["<unk>"] == 1


def test_encode_maps_unknown_tokens_to_unk_and_decode_inverts():
    vocab = Vocab.build(CORPUS)
    ids = vocab.encode(["the", "zebra", "cat"])
    assert ids == [4, 1, 5]
    assert vocab.decode(ids) == ["the", "<unk>", "cat"]
    assert vocab["zebra"] == vocab.unk_id and vocab["cat"] == 5
    assert "cat" in vocab and "zebra" not in vocab


def test_oov_rate_of_a_text():
    vocab = Vocab.build(CORPUS)
    assert vocab.oov_rate(["the", "zebra", "cat", "lion"]) == 0.5
    with pytest.raises(ValueError, match="oov_rate: expected at least one token"):
        vocab.oov_rate([])


def test_vocab_without_sentence_markers_says_so():
    vocab = Vocab.build(CORPUS, specials=("<pad>", "<unk>"))
    with pytest.raises(ValueError, match=r"'<s>' is not among this vocabulary's specials"):
        _ = vocab.bos_id


token_lists = st.lists(
    st.lists(st.text(min_size=1, max_size=5), max_size=8), min_size=1, max_size=8
)


@given(token_lists)
def test_decode_of_encode_is_identity_for_vocabulary_tokens(lists):
    tokens = [token for tokens in lists for token in tokens]
    vocab = Vocab.build([*lists, ["x"]])
    in_vocab = [token for token in tokens if token in vocab]
    assert vocab.decode(vocab.encode(in_vocab)) == in_vocab


@given(token_lists, st.integers(min_value=4, max_value=10), st.integers(min_value=1, max_value=3))
def test_build_is_deterministic_and_respects_limits(lists, max_size, min_freq):
    lists = [*lists, ["x"]]
    vocab = Vocab.build(lists, max_size=max_size, min_freq=min_freq)
    assert vocab == Vocab.build(lists, max_size=max_size, min_freq=min_freq)
    assert len(vocab) <= max_size
    assert all(vocab.counts[token] >= min_freq for token in vocab.tokens[4:])


@given(token_lists)
def test_save_load_round_trips_exactly(tmp_path_factory, lists):
    path = tmp_path_factory.mktemp("vocab") / "vocab.json"
    vocab = Vocab.build([*lists, ["汉字", "é"]])
    vocab.save(path)
    assert Vocab.load(path) == vocab


def test_saved_file_is_utf8_json_that_names_its_format(tmp_path):
    path = tmp_path / "vocab.json"
    Vocab.build([["汉字"]]).save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "rnnkit.vocab" and data["version"] == 1
    assert "汉字" in path.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]


def test_max_size_smaller_than_specials_is_an_error():
    with pytest.raises(ValueError, match=r"max_size must be at least the 4 specials .* got 3"):
        Vocab.build(CORPUS, max_size=3)


def test_empty_corpus_is_an_error():
    with pytest.raises(
        ValueError, match="Vocab.build: expected at least one token, got an empty corpus"
    ):
        Vocab.build([])


def test_build_rejects_strings_in_place_of_token_lists():
    with pytest.raises(TypeError, match="token_lists must hold lists of tokens, got a str"):
        Vocab.build(["the cat"])


def test_decode_rejects_ids_out_of_range():
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 9\), got \[9, -1\]"):
        Vocab.build(CORPUS).decode([4, 9, -1])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"tokens": ["a"]}', "not an rnnkit vocabulary .*format 'rnnkit.vocab', got None"),
        ("[1, 2]", "not an rnnkit vocabulary .*got 'list'"),
        ("not json", "not an rnnkit vocabulary .*unreadable content"),
        ('{"format": "rnnkit.vocab", "version": 99}', "has version 99"),
        ('{"format": "rnnkit.vocab", "version": 1, "tokens": ["a"], "counts": []}', "is damaged"),
        (
            (
                '{"format": "rnnkit.vocab", "version": 1, "specials": ["<pad>", "<unk>"], '
                '"tokens": ["<pad>", "<unk>", "a", "a"], "counts": [0, 0, 1, 1]}'
            ),
            "damaged: .*duplicates",
        ),
    ],
)
def test_load_refuses_files_that_are_not_ours(tmp_path, content, message):
    path = tmp_path / "vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        Vocab.load(path)


def test_load_refuses_a_binary_file(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(ValueError, match="not an rnnkit vocabulary"):
        Vocab.load(path)


def test_failed_save_leaves_no_file(tmp_path):
    vocab = Vocab.build([["\ud800"]])  # a lone surrogate cannot be written as UTF-8
    with pytest.raises(UnicodeEncodeError):
        vocab.save(tmp_path / "vocab.json")
    assert list(tmp_path.iterdir()) == []

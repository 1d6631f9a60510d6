"""Property-based tests: on arbitrary bytes and text, the readers, tokenizers and ``Vocab``
raise nothing but their documented errors (``ValueError`` naming the file and line for bad
files), and encode/decode round-trip."""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.data import (
    read_conll,
    read_conll_tokens,
    read_corpus,
    read_examples,
    read_labeled,
    read_pairs,
)
from rnnkit.text import Vocab, get_tokenizer

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
READERS = {
    "corpus": lambda path: list(read_corpus(path)),
    "sentences": lambda path: list(read_corpus(path, unit="sentence")),
    "labeled": lambda path: list(read_labeled(path)),
    "examples": lambda path: read_examples(path),
    "conll": lambda path: list(read_conll(path)),
    "conll_tokens": lambda path: read_conll_tokens(path),
    "pairs": lambda path: list(read_pairs(path)),
}
# Bytes that look like what users feed: text with separators, and noise.
FILE_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from([b"a", b"b c", b"\t", b",", b" ", b"\n", b"\r\n", b'"',
                              b"\xef\xbb\xbf", b"\xff", b"\x00", "中文".encode(),
                              b"-DOCSTART-", b"B-PER", b"1 "]),
             max_size=60).map(b"".join),
    st.text(max_size=200).map(lambda text: text.encode("utf-8")),
)


def _read_all(name: str, content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"data{suffix}"
        path.write_bytes(content)
        try:
            READERS[name](path)
        except ValueError as error:
            assert str(error), "a ValueError must say what is wrong"


@SETTINGS
@given(content=FILE_BYTES, name=st.sampled_from(sorted(READERS)),
       suffix=st.sampled_from([".txt", ".tsv", ".csv", ".conll"]))
def test_readers_raise_only_value_errors_on_any_bytes(content, name, suffix):
    _read_all(name, content, suffix)


TOKENIZER_NAMES = ["word", "char", "whitespace", "chinese", "auto"]


@SETTINGS
@given(text=st.text(max_size=200), name=st.sampled_from(TOKENIZER_NAMES))
def test_tokenizers_take_any_text(text, name):
    tokenizer = get_tokenizer(name)
    tokens = tokenizer.tokenize(text)
    assert all(isinstance(token, str) and token for token in tokens)
    assert isinstance(tokenizer.detokenize(tokens), str)


@SETTINGS
@given(corpus=st.lists(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=12),
                      min_size=1, max_size=12),
       tokens=st.lists(st.text(max_size=8), max_size=30),
       max_size=st.one_of(st.none(), st.integers(4, 40)), min_freq=st.integers(1, 3))
def test_vocab_encodes_any_tokens_and_decodes_its_ids(corpus, tokens, max_size, min_freq):
    vocab = Vocab.build(corpus, max_size=max_size, min_freq=min_freq)
    ids = vocab.encode(tokens)
    assert all(0 <= index < len(vocab) for index in ids)
    decoded = vocab.decode(ids)
    assert all(out == token or index == vocab.unk_id
               for token, index, out in zip(tokens, ids, decoded))


@SETTINGS
@given(ids=st.lists(st.integers(-5, 60), max_size=20))
def test_vocab_decode_refuses_ids_out_of_range_with_a_value_error(ids):
    vocab = Vocab.build([["a", "b", "c"]])
    try:
        assert len(vocab.decode(ids)) == len(ids)
    except ValueError as error:
        assert "Vocab.decode: ids must lie in [0, 7)" in str(error)
        assert any(not 0 <= index < len(vocab) for index in ids)

"""prepare / load_prepared: vocab.json + memory-mapped ids + meta.json, all or nothing."""

import json

import numpy as np
import pytest

from rnnkit.data import LMStream, load_prepared, prepare
from rnnkit.data.prepared import META_FILE, TOKENS_FILE, VOCAB_FILE
from rnnkit.text import Vocab, get_tokenizer

CORPUS = "the cat sat\n\nthe dog sat on the mat\n"


def write(tmp_path, content, name="corpus.txt"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_prepare_writes_vocab_ids_and_meta(tmp_path):
    prepared = prepare(write(tmp_path, CORPUS), tmp_path / "out", progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        META_FILE,
        TOKENS_FILE,
        VOCAB_FILE,
    ]
    assert isinstance(prepared.tokens, np.memmap) and prepared.tokens.dtype == np.uint16
    decoded = prepared.vocab.decode(prepared.tokens.tolist())
    assert decoded == ["the", "cat", "sat", "</s>", "the", "dog", "sat", "on", "the", "mat", "</s>"]
    assert prepared.meta["count"] == 11 and prepared.meta["texts"] == 2
    assert Vocab.load(tmp_path / "out" / VOCAB_FILE) == prepared.vocab
    assert prepared.tokenizer == get_tokenizer("word")


def test_load_prepared_reopens_the_same_corpus(tmp_path):
    prepared = prepare(write(tmp_path, CORPUS), tmp_path / "out", bos=True, progress=False)
    again = load_prepared(tmp_path / "out")
    assert again.vocab == prepared.vocab and again.meta == prepared.meta
    assert np.array_equal(again.tokens, prepared.tokens)
    assert again.vocab.decode(again.tokens[:2].tolist()) == ["<s>", "the"]


def test_prepared_tokens_feed_lm_stream(tmp_path):
    prepared = prepare(write(tmp_path, CORPUS * 10), tmp_path / "out", progress=False)
    x, y = LMStream(prepared.tokens, batch_size=2, bptt=5)[0]
    assert x.shape == (2, 5) and np.array_equal(x[0, 1:].numpy(), y[0, :-1].numpy())


def test_chinese_corpus_with_vocabulary_limits(tmp_path):
    corpus = write(tmp_path, "接触LSTM模型不久\n简单看了一些相关的论文\n模型不久\n")
    prepared = prepare(corpus, tmp_path / "out", tokenizer="chinese", max_size=7, progress=False)
    assert len(prepared.vocab) == 7
    assert prepared.vocab.tokens[4:] == ["模型", "不久", "接触"]
    assert prepared.meta["tokenizer"] == {"name": "chinese", "user_dict": None}


def test_large_vocabulary_uses_uint32(tmp_path):
    corpus = write(tmp_path, " ".join(f"w{i}" for i in range(70_000)) + "\n")
    prepared = prepare(corpus, tmp_path / "out", tokenizer="whitespace", progress=False)
    assert prepared.tokens.dtype == np.uint32
    assert prepared.vocab.decode(prepared.tokens[-2:].tolist()) == ["w69999", "</s>"]


def test_chunks_are_appended_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr("rnnkit.data.prepared._CHUNK_TOKENS", 3)
    prepared = prepare(write(tmp_path, CORPUS), tmp_path / "out", progress=False)
    assert prepared.vocab.decode(prepared.tokens.tolist())[-3:] == ["the", "mat", "</s>"]


def test_progress_bar_reports_bytes_on_stderr(tmp_path, capsys):
    prepare(write(tmp_path, CORPUS), tmp_path / "out")
    err = capsys.readouterr().err
    assert "prepare 1/2: count" in err and "prepare 2/2: encode" in err


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("\n\n", {}, "holds no text"),
        (b"fine\n\xff\xfe bad\n", {}, r"corpus\.txt:2: not valid UTF-8"),
        (b"\x7fELF\x02\x01\x01\x00\x00", {}, r"corpus\.txt:1: a NUL byte"),
        (CORPUS, {"max_size": 2}, "max_size must be at least the 4 specials"),
        (
            CORPUS,
            {"specials": ("<pad>", "<unk>")},
            r"'</s>' is not among this vocabulary's specials",
        ),
    ],
)
def test_bad_input_is_an_error_and_leaves_no_file(tmp_path, content, kwargs, message):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        prepare(write(tmp_path, content), out, progress=False, **kwargs)
    assert not out.exists() or list(out.iterdir()) == []


def test_failure_in_the_second_pass_leaves_no_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("rnnkit.data.prepared.encode", broken)
    with pytest.raises(OSError, match="disk full"):
        prepare(write(tmp_path, CORPUS), tmp_path / "out", progress=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_load_prepared_refuses_what_is_not_a_prepared_corpus(tmp_path):
    with pytest.raises(ValueError, match="is not a prepared corpus"):
        load_prepared(tmp_path)
    (tmp_path / META_FILE).write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(ValueError, match="is not ours"):
        load_prepared(tmp_path)


def test_load_prepared_detects_a_truncated_token_file(tmp_path):
    prepare(write(tmp_path, CORPUS), tmp_path / "out", progress=False)
    tokens = tmp_path / "out" / TOKENS_FILE
    tokens.write_bytes(tokens.read_bytes()[:-2])
    with pytest.raises(ValueError, match=r"should hold 11 uint16 ids \(22 bytes\), got 20 bytes"):
        load_prepared(tmp_path / "out")


def test_meta_json_is_readable(tmp_path):
    prepare(write(tmp_path, CORPUS), tmp_path / "out", progress=False)
    meta = json.loads((tmp_path / "out" / META_FILE).read_text(encoding="utf-8"))
    assert meta["format"] == "rnnkit.prepared" and meta["dtype"] == "uint16"


def test_raw_text_sentences_wrapped_for_a_language_model(tmp_path):
    corpus = write(tmp_path, "Hi there. Bye\nnow!\n\n你好。\n")
    prepared = prepare(
        corpus, tmp_path / "out", tokenizer="auto", unit="sentence", bos=True, progress=False
    )
    assert " ".join(prepared.vocab.decode(prepared.tokens.tolist())) == (
        "<s> Hi there . </s> <s> Bye now ! </s> <s> 你好 。 </s>"
    )

"""Streaming readers: each format, and bad input named by file and line."""

import pytest

from rnnkit.data import iter_lines, read_conll, read_corpus, read_labeled, read_pairs


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_iter_lines_numbers_lines_and_drops_bom_and_line_ends(tmp_path):
    path = write(tmp_path, "a.txt", b"\xef\xbb\xbffirst\r\nsecond\n")
    assert list(iter_lines(path)) == [(1, "first"), (2, "second")]
    assert list(iter_lines(path, keepends=True))[1] == (2, "second\n")


def test_read_corpus_yields_stripped_nonblank_lines_lazily(tmp_path):
    path = write(tmp_path, "ptb.txt", " the cat <unk> \n\n a dog \n")
    lines = read_corpus(path)
    assert next(lines) == "the cat <unk>"
    assert list(lines) == ["a dog"]


def test_read_corpus_splits_raw_text_into_sentences(tmp_path):
    path = write(tmp_path, "raw.txt", "Mr. Smith came. He\nsaw it!\n\n我很好。你呢？\n")
    assert list(read_corpus(path, unit="sentence")) == [
        "Mr. Smith came.",
        "He saw it!",
        "我很好。",
        "你呢？",
    ]


def test_read_corpus_sentence_mode_holds_bounded_text(tmp_path, monkeypatch):
    monkeypatch.setattr("rnnkit.data.readers._SENTENCE_BUFFER", 20)
    path = write(
        tmp_path,
        "raw.txt",
        "One two. Three four five\nsix seven. Eight nine ten eleven twelve thirteen\n",
    )
    assert list(read_corpus(path, unit="sentence")) == [
        "One two.",
        "Three four five six seven.",
        "Eight nine ten eleven twelve thirteen",
    ]


def test_read_labeled_csv_with_header_and_quoting(tmp_path):
    path = write(tmp_path, "reviews.csv", 'label,review\n1,"好,很好 ""赞"""\n0,"two\nlines"\n')
    assert list(read_labeled(path)) == [('好,很好 "赞"', "1"), ("two\nlines", "0")]


def test_read_labeled_tsv_columns_by_name_number_or_without_header(tmp_path):
    path = write(tmp_path, "d.tsv", "id\tsentence\tlabel\n7\tit's \"fine\tpos\n")
    assert list(read_labeled(path)) == [("it's \"fine", "pos")]
    assert list(read_labeled(path, text_column="id", label_column="LABEL")) == [("7", "pos")]
    headerless = write(tmp_path, "h.tsv", "good film\t1\nbad film\t0\n")
    assert list(read_labeled(headerless, text_column=0, label_column=1)) == [
        ("good film", "1"),
        ("bad film", "0"),
    ]
    assert list(read_labeled(headerless, label_column=-1)) == [
        ("good film", "1"),
        ("bad film", "0"),
    ]


def test_read_labeled_row_with_wrong_column_count_names_file_and_line(tmp_path):
    path = write(tmp_path, "d.tsv", "text\tlabel\na\t1\nb\t0\textra\n")
    with pytest.raises(ValueError, match=r"d\.tsv:3: expected 2 columns \(as in line 1\), got 3"):
        list(read_labeled(path))


def test_read_labeled_counts_lines_of_multiline_csv_records(tmp_path):
    path = write(tmp_path, "d.csv", 'label,text\n1,"a\nb"\n0,c,d\n')
    with pytest.raises(ValueError, match=r"d\.csv:4: expected 2 columns"):
        list(read_labeled(path))


def test_read_labeled_unknown_label_column(tmp_path):
    path = write(tmp_path, "d.csv", "label,review\n1,ok\n")
    with pytest.raises(
        ValueError,
        match=r"unknown label column 'sentiment' in .*d\.csv; its header has \['label', 'review'\]",
    ):
        list(read_labeled(path, label_column="sentiment"))


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("a,b,c\n", {}, "cannot tell which column .* holds the label"),
        ("label,x,y\n1,2,3\n", {}, "cannot tell which column .* holds the text"),
        ("good\t1\n", {"label_column": 5}, r"label_column must lie in \[-2, 2\) .* got 5"),
        (
            "good\t1\n",
            {"text_column": "text", "label_column": 1, "header": False},
            "names a column, but .* has no header",
        ),
        (
            "good\t1\n",
            {"text_column": "text", "label_column": 1},
            r"unknown text column 'text' .* header has \['good', '1'\]",
        ),
        ("label,text\n", {}, "holds no rows below its header"),
        ("", {}, "holds no rows"),
        ('label,text\n1,"open\n', {}, r":2: not a valid ','-separated row"),
    ],
)
def test_read_labeled_errors(tmp_path, content, kwargs, message):
    path = write(tmp_path, "d.csv" if "," in content or not content else "d.tsv", content)
    with pytest.raises(ValueError, match=message):
        list(read_labeled(path, **kwargs))


CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def test_read_conll_sentences_tokens_and_tags(tmp_path):
    path = write(tmp_path, "ner.txt", CONLL)
    assert list(read_conll(path)) == [
        (["EU", "rejects"], ["B-ORG", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]
    assert next(read_conll(path, tag_column=1)) == (["EU", "rejects"], ["NNP", "VBZ"])


def test_read_conll_wrong_column_count_names_file_and_line(tmp_path):
    path = write(tmp_path, "ner.txt", CONLL.replace("rejects VBZ B-VP O", "rejects O"))
    with pytest.raises(ValueError, match=r"ner\.txt:4: expected 4 columns .*got 2"):
        list(read_conll(path))


def test_read_pairs(tmp_path):
    path = write(tmp_path, "cmn.txt", "Hi.\t嗨。\n\nRun.\t你用跑的。\n")
    assert list(read_pairs(path)) == [("Hi.", "嗨。"), ("Run.", "你用跑的。")]
    bad = write(tmp_path, "bad.txt", "Hi.\t嗨。\nRun.\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: expected 2 tab-separated columns .*got 1"):
        list(read_pairs(bad))


READERS = [read_corpus, read_labeled, read_conll, read_pairs]


@pytest.mark.parametrize("reader", READERS)
def test_empty_file_is_a_clear_error(tmp_path, reader):
    path = write(tmp_path, "empty.txt", "\n  \n")
    with pytest.raises(
        ValueError, match=rf"{reader.__name__}: .*empty\.txt holds no|empty\.txt holds no"
    ):
        list(reader(path))


@pytest.mark.parametrize("reader", READERS)
def test_non_utf8_file_names_file_and_line(tmp_path, reader):
    path = write(tmp_path, "latin1.txt", b"text\tlabel\n" + "café\tbon\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.txt:2: not valid UTF-8"):
        list(reader(path))


@pytest.mark.parametrize("reader", READERS)
def test_binary_file_is_a_clear_error(tmp_path, reader):
    path = write(tmp_path, "model.bin", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\n")
    with pytest.raises(
        ValueError, match=r"model\.bin:1: a NUL byte; this looks like a binary file"
    ):
        list(reader(path))


@pytest.mark.shared_data
def test_shared_datasets_read_with_their_documented_counts(shared_data):
    assert sum(1 for _ in read_corpus(shared_data / "ptb" / "ptb.train.txt")) == 42068
    reviews = list(read_labeled(shared_data / "chnsenticorp_htl" / "ChnSentiCorp_htl_all.csv"))
    assert len(reviews) == 7766 and sum(label == "1" for _, label in reviews) == 5322
    sentences = list(read_conll(shared_data / "conll2003" / "train.txt"))
    assert len(sentences) == 14041 and sum(len(tokens) for tokens, _ in sentences) == 203621
    assert sum(1 for _ in read_pairs(shared_data / "cmn_eng" / "cmn.txt")) == 20133

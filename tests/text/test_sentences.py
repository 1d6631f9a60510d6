"""Sentence splitting for English and Chinese."""

import pytest

from rnnkit.text import split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith left. He was tired! Was he?", ["Mr. Smith left.", "He was tired!", "Was he?"]),
        ('He said "Stop." Then he left...', ['He said "Stop."', "Then he left..."]),
        (
            "The U.S. economy grew 3.5% in Jan. 2020. Fine.",
            ["The U.S. economy grew 3.5% in Jan. 2020.", "Fine."],
        ),
        ("J. R. R. Tolkien wrote it. Yes.", ["J. R. R. Tolkien wrote it.", "Yes."]),
        ("我很好。你呢？今天；明天！", ["我很好。", "你呢？", "今天；", "明天！"]),
        ("他说：“我不知道。”然后走了……你呢", ["他说：“我不知道。”", "然后走了……", "你呢"]),
        ("路线.房间较为简单.", ["路线.", "房间较为简单."]),
        ("First paragraph\n\nsecond one", ["First paragraph", "second one"]),
        ("no end mark", ["no end mark"]),
        ("", []),
        ("  \n ", []),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_sentences_can_be_wrapped_for_a_language_model():
    wrapped = [["<s>", *sentence.split(), "</s>"] for sentence in split_sentences("Hi there. Bye.")]
    assert wrapped == [["<s>", "Hi", "there.", "</s>"], ["<s>", "Bye.", "</s>"]]


def test_split_sentences_rejects_non_text():
    with pytest.raises(TypeError, match="split_sentences: text must be a str, got bytes"):
        split_sentences(b"abc")

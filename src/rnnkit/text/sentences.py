"""Sentence splitting for English and Chinese, so a language model can wrap each sentence in
``<s>`` … ``</s>``."""

from __future__ import annotations

import re

from rnnkit.text.tokenizers import CJK_CHARS

_CLOSERS = "\"')\\]}\u201d\u2019\u300d\u300f\uff09"  # " ' ) ] } ” ’ 」 』 ）
_BOUNDARY = re.compile(
    rf"""
      (?:[\u3002\uff01\uff1f\uff1b]|\u2026+)+[{_CLOSERS}]*   # Chinese 。！？； and … runs
    | [.!?]+[{_CLOSERS}]*(?=\s|$|[{CJK_CHARS}])             # English ., !, ? before a space
    | \n[ \t]*\n\s*                                         # a blank line ends a paragraph
    """,
    re.VERBOSE,
)
# A full stop after these is part of the word, not the end of a sentence.
# fmt: off
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "fig",
    "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec", "u.s", "u.k",
})
# fmt: on
_LAST_WORD = re.compile(r"(?:^|\s)(\S+)\.$")


def _is_abbreviation(text_before_stop: str) -> bool:
    match = _LAST_WORD.search(text_before_stop)
    if match is None:
        return False
    word = match.group(1).lower()
    return word in _ABBREVIATIONS or len(word) == 1 and word.isalpha()


def split_sentences(text: str) -> list[str]:
    """Cut ``text`` into sentences, each stripped; empty pieces are dropped.

    A sentence ends at Chinese 。！？；or an ellipsis (…), at English ``.``, ``!`` or ``?``
    followed by whitespace, the end, or Chinese text, and at a blank line. Closing quotes and
    brackets stay with their sentence; a full stop after a common abbreviation (Mr., e.g.) or
    an initial (J.) does not end one.

    >>> split_sentences("Mr. Smith left. He was tired! 我很好。你呢？")
    ['Mr. Smith left.', 'He was tired!', '我很好。', '你呢？']
    """
    if not isinstance(text, str):
        raise TypeError(f"split_sentences: text must be a str, got {type(text).__name__}")
    sentences = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if match.group() == "." and _is_abbreviation(text[start:end]):
            continue
        sentences.append(text[start:end].strip())
        start = end
    sentences.append(text[start:].strip())
    return [sentence for sentence in sentences if sentence]

"""Tokenizers: text → tokens → text, one small protocol for every language.

Every tokenizer is a frozen dataclass with ``tokenize(text) -> list[str]`` and
``detokenize(tokens) -> str``; ``config()`` gives back the keyword arguments that rebuild it
with :func:`get_tokenizer`, so a model directory can store how its text was cut.

English words follow the Penn Treebank convention that the seeds' examples use: punctuation is
a token of its own and contractions are split before the clitic, ``"aren't" → ["are", "n't"]``,
``"it's" → ["it", "'s"]`` (as in the WildML example ``what are n't you understanding``).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

import jieba

# jieba announces "Building prefix dict..." on stderr at first use; command lines stay quiet.
jieba.setLogLevel(logging.WARNING)

CJK_CHARS = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han: extension A, unified, compatibility
    "\u3000-\u303f\uff00-\uffef"  # CJK punctuation (，。「」) and fullwidth forms (！？)
    "\U00020000-\U0002fa1f"  # Han: supplementary planes
)
"""Character class body (for ``[...]``) of the characters that Chinese segmentation handles."""

_APOSTROPHE = "['\u2019]"
_WORD_PATTERN = re.compile(
    rf"""
      </?[A-Za-z_]+>                          # markers already in the text: <unk>, </s>
    | (?:[^\W\d_]\.){{2,}}                      # acronyms: U.S., e.g.
    | [nN]{_APOSTROPHE}[tT]\b                  # n't
    | {_APOSTROPHE}(?:[sSdDmM]|re|RE|ve|VE|ll|LL)\b   # clitics 's 'd 'm 're 've 'll
    | \d+(?:[.,]\d+)+                          # numbers with separators: 3.10, 1,000
    | \w+(?:-\w+)*(?!(?<=[nN]){_APOSTROPHE}[tT]\b)   # words, hyphenated compounds; "aren't"
                                               # stops at "are": a guard, not a second branch,
                                               # so ordinary words never backtrack
    | \S                                       # any other symbol stands alone
    """,
    re.VERBOSE,
)
# Detokenizing glues these to their left neighbour: closing punctuation, clitics, n't.
_NO_SPACE_BEFORE = re.compile(
    rf" (?=[.,!?;:%)\]}}]|{_APOSTROPHE}(?:[sSdDmM]|re|RE|ve|VE|ll|LL)\b|[nN]{_APOSTROPHE}[tT]\b)"
)
_NO_SPACE_AFTER = re.compile(r"(?<=[(\[{$]) ")
_SPACE_NEXT_TO_CJK = re.compile(rf"(?<=[{CJK_CHARS}]) | (?=[{CJK_CHARS}])")
_CJK_RUN = re.compile(rf"([{CJK_CHARS}]+)")
_WHITESPACE = re.compile(r"\s")


@runtime_checkable
class Tokenizer(Protocol):
    """What every tokenizer offers; ``name`` is its key for :func:`get_tokenizer`."""

    name: str

    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: list[str]) -> str: ...

    def config(self) -> dict: ...


def _english_detokenize(tokens: list[str]) -> str:
    text = " ".join(tokens)
    return _NO_SPACE_AFTER.sub("", _NO_SPACE_BEFORE.sub("", text))


def _mixed_detokenize(tokens: list[str]) -> str:
    return _SPACE_NEXT_TO_CJK.sub("", _english_detokenize(tokens))


@functools.lru_cache(maxsize=8)
def _jieba_segmenter(user_dict: str | None) -> jieba.Tokenizer:
    """The shared default segmenter, or one private segmenter per user dictionary."""
    if user_dict is None:
        return jieba.dt
    segmenter = jieba.Tokenizer()
    segmenter.load_userdict(user_dict)
    return segmenter


def _check_user_dict(owner: str, user_dict: str | None) -> None:
    if user_dict is not None and not os.path.isfile(user_dict):
        raise ValueError(f"{owner}: user_dict must be an existing file, got {user_dict!r}")


def _segment(text: str, user_dict: str | None) -> list[str]:
    """jieba's words of ``text`` without the whitespace tokens that jieba keeps."""
    tokens = _jieba_segmenter(user_dict).lcut(text)
    if _WHITESPACE.search(text) is None:  # spare the per-token filter when it has no work
        return tokens
    return [token for token in tokens if not token.isspace()]


class _Configured:
    """``config()`` for the dataclass tokenizers: their fields plus their registry name."""

    name: str

    def config(self) -> dict:
        return {"name": self.name, **asdict(self)}


@dataclass(frozen=True)
class WordTokenizer(_Configured):
    """English words by one compiled regex: punctuation alone, contractions split PTB-style.

    ``"They aren't here, are they?"`` → ``They are n't here , are they ?``. Markers already
    in the text (``<unk>``, ``</s>``) stay whole, so pre-processed corpora such as PTB keep
    them. ``detokenize`` re-attaches punctuation and clitics; it inverts ``tokenize`` on
    ordinary prose (quotes are ambiguous and come back spaced).
    """

    lowercase: bool = False
    name = "word"

    def tokenize(self, text: str) -> list[str]:
        return _WORD_PATTERN.findall(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: list[str]) -> str:
        return _english_detokenize(tokens)


@dataclass(frozen=True)
class CharTokenizer(_Configured):
    """Every character (spaces and newlines included) is a token; ``detokenize`` is exact."""

    name = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens)


@dataclass(frozen=True)
class WhitespaceTokenizer(_Configured):
    """Pre-tokenized text: tokens are what whitespace separates."""

    name = "whitespace"

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def detokenize(self, tokens: list[str]) -> str:
        return " ".join(tokens)


@dataclass(frozen=True)
class ChineseTokenizer(_Configured):
    """Chinese words by jieba (``lcut``, HMM on for unknown words); whitespace is dropped.

    ``user_dict`` is a jieba user dictionary (``word [freq] [tag]`` per line), loaded into a
    segmenter of its own so that other tokenizers are unaffected. ``detokenize`` joins Chinese
    without spaces and keeps one space between neighbouring Latin words.
    """

    user_dict: str | None = None
    name = "chinese"

    def __post_init__(self) -> None:
        _check_user_dict(type(self).__name__, self.user_dict)

    def tokenize(self, text: str) -> list[str]:
        return _segment(text, self.user_dict)

    def detokenize(self, tokens: list[str]) -> str:
        return _mixed_detokenize(tokens)


@dataclass(frozen=True)
class AutoTokenizer(_Configured):
    """Mixed text: runs of CJK characters go to jieba, everything else to the English rules.

    ``"接触LSTM模型不久"`` → ``接触 LSTM 模型 不久``.
    """

    lowercase: bool = False
    user_dict: str | None = None
    name = "auto"

    def __post_init__(self) -> None:
        _check_user_dict(type(self).__name__, self.user_dict)

    def tokenize(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        pieces = _CJK_RUN.split(text)  # [latin, cjk, latin, cjk, ..., latin]
        tokens = _WORD_PATTERN.findall(pieces[0])
        for index in range(1, len(pieces), 2):
            tokens += _segment(pieces[index], self.user_dict)
            tokens += _WORD_PATTERN.findall(pieces[index + 1])
        return tokens

    def detokenize(self, tokens: list[str]) -> str:
        return _mixed_detokenize(tokens)


TOKENIZERS: dict[str, type] = {
    cls.name: cls
    for cls in (WordTokenizer, CharTokenizer, ChineseTokenizer, WhitespaceTokenizer, AutoTokenizer)
}
"""Registry of tokenizer classes by name."""


def get_tokenizer(name: str, **options: object) -> Tokenizer:
    """The tokenizer called ``name`` (``word``, ``char``, ``chinese``, ``whitespace``, ``auto``).

    ``options`` are its settings (``lowercase=True`` for ``word``/``auto``, ``user_dict=path``
    for ``chinese``/``auto``); ``get_tokenizer(**tokenizer.config())`` rebuilds a tokenizer.

    >>> get_tokenizer("word").tokenize("They aren't here.")
    ['They', 'are', "n't", 'here', '.']
    """
    if name not in TOKENIZERS:
        raise ValueError(f"get_tokenizer: name must be one of {sorted(TOKENIZERS)}, got {name!r}")
    cls = TOKENIZERS[name]
    accepted = set(cls.__dataclass_fields__)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(
            f"get_tokenizer: tokenizer {name!r} accepts options {sorted(accepted)}, got {unknown}"
        )
    return cls(**options)

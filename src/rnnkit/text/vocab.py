"""``Vocab``: tokens ↔ dictionary ids, with special tokens first and a JSON file of its own."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain, repeat
from pathlib import Path

from rnnkit.text.atomic import atomic_path

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
DEFAULT_SPECIALS = (PAD, UNK, BOS, EOS)
"""Specials every vocabulary starts with unless told otherwise: ``<pad>``=0, ``<unk>``=1."""

FORMAT = "rnnkit.vocab"
VERSION = 1


def _token_lists(token_lists: Iterable[Iterable[str]]) -> Iterator[Iterable[str]]:
    for tokens in token_lists:
        if isinstance(tokens, str):
            raise TypeError(
                "Vocab.build: token_lists must hold lists of tokens, got a str "
                f"({tokens[:20]!r}); tokenize it first or wrap it in a list"
            )
        yield tokens


class Vocab:
    """An ordered token list: specials first (``<pad>``=0, ``<unk>``=1), then tokens by
    frequency, ties broken by first appearance, so the same corpus always gives the same ids.

    >>> vocab = Vocab.build([["a", "b", "a"], ["c"]])
    >>> vocab.encode(["a", "c", "zzz"])
    [4, 6, 1]
    >>> vocab.decode([4, 6, 1])
    ['a', 'c', '<unk>']
    """

    def __init__(
        self,
        tokens: Sequence[str],
        counts: Mapping[str, int] | None = None,
        specials: Sequence[str] = DEFAULT_SPECIALS,
    ) -> None:
        """``tokens`` is the whole id order and must start with ``specials``; ``counts`` are the
        corpus frequencies behind it (absent tokens count 0)."""
        specials = tuple(specials)
        if specials[:2] != (PAD, UNK):
            raise ValueError(f"Vocab: specials must start with {(PAD, UNK)}, got {specials[:2]}")
        if len(set(specials)) != len(specials):
            raise ValueError(f"Vocab: specials must be distinct, got {specials}")
        if tuple(tokens[: len(specials)]) != specials:
            raise ValueError(
                f"Vocab: tokens must start with the specials {specials}, "
                f"got {tuple(tokens[: len(specials)])}"
            )
        self._itos = list(tokens)
        self._stoi = {token: index for index, token in enumerate(self._itos)}
        if len(self._stoi) != len(self._itos):
            duplicates = sorted(token for token, n in Counter(self._itos).items() if n > 1)
            raise ValueError(f"Vocab: tokens must be distinct, got duplicates {duplicates[:10]}")
        self._specials = specials
        counts = counts or {}
        self._counts = {token: int(counts.get(token, 0)) for token in self._itos}

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Iterable[str]],
        max_size: int | None = None,
        min_freq: int = 1,
        specials: Sequence[str] = DEFAULT_SPECIALS,
    ) -> Vocab:
        """Count the tokens of ``token_lists`` (one list per sentence or document) and keep the
        most frequent. ``max_size`` bounds the whole vocabulary, specials included (the seed's
        8000); tokens seen fewer than ``min_freq`` times are left out."""
        counter = Counter(chain.from_iterable(_token_lists(token_lists)))
        return cls.from_counts(counter, max_size=max_size, min_freq=min_freq, specials=specials)

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        max_size: int | None = None,
        min_freq: int = 1,
        specials: Sequence[str] = DEFAULT_SPECIALS,
    ) -> Vocab:
        """Like :meth:`build` from ready counts; their iteration order is "first appearance"."""
        specials = tuple(specials)
        if max_size is not None and max_size < len(specials):
            raise ValueError(
                f"Vocab.build: max_size must be at least the {len(specials)} specials "
                f"{specials}, got {max_size}"
            )
        if min_freq < 1:
            raise ValueError(f"Vocab.build: min_freq must be >= 1, got {min_freq}")
        if not counts:
            raise ValueError("Vocab.build: expected at least one token, got an empty corpus")
        special_set = set(specials)
        # sorted() is stable, so equal counts keep their first-appearance order.
        ranked = sorted(
            (token for token, n in counts.items() if n >= min_freq and token not in special_set),
            key=counts.__getitem__,
            reverse=True,
        )
        if max_size is not None:
            ranked = ranked[: max_size - len(specials)]
        return cls([*specials, *ranked], counts, specials)

    @property
    def specials(self) -> tuple[str, ...]:
        return self._specials

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._itos)

    @property
    def counts(self) -> dict[str, int]:
        """Corpus frequency of each token in the vocabulary (a copy)."""
        return dict(self._counts)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    @property
    def bos_id(self) -> int:
        return self._special_id(BOS)

    @property
    def eos_id(self) -> int:
        return self._special_id(EOS)

    def _special_id(self, token: str) -> int:
        if token not in self._specials:
            raise ValueError(
                f"Vocab: {token!r} is not among this vocabulary's specials {self._specials}"
            )
        return self._stoi[token]

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __getitem__(self, token: str) -> int:
        """The id of ``token``, ``unk_id`` when it is out of the vocabulary."""
        return self._stoi.get(token, 1)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return (self._itos, self._counts, self._specials) == (
            other._itos,
            other._counts,
            other._specials,
        )

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, specials={self._specials})"

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``; out-of-vocabulary tokens become ``unk_id``."""
        return list(map(self._stoi.get, tokens, repeat(1, len(tokens))))

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids`` (ints, e.g. ``tensor.tolist()``); every id must be in range."""
        ids = list(ids)
        size = len(self._itos)
        bad = [index for index in ids if not 0 <= index < size]
        if bad:
            raise ValueError(f"Vocab.decode: ids must lie in [0, {size}), got {bad[:10]}")
        return [self._itos[index] for index in ids]

    def oov_rate(self, tokens: Iterable[str]) -> float:
        """Fraction of ``tokens`` that are not in the vocabulary (they would encode as unk)."""
        total = missing = 0
        for token in tokens:
            total += 1
            missing += token not in self._stoi
        if total == 0:
            raise ValueError("Vocab.oov_rate: expected at least one token, got none")
        return missing / total

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "specials": list(self._specials),
            "tokens": self._itos,
            "counts": [self._counts[token] for token in self._itos],
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write UTF-8 JSON (readable, non-ASCII kept as is); atomically, never a partial file."""
        with atomic_path(path) as temporary:
            temporary.write_text(
                json.dumps(self.to_dict(), ensure_ascii=False, indent=0), encoding="utf-8"
            )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocab:
        """Read a file written by :meth:`save`; anything else is refused with a ValueError."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(
                f"Vocab.load: {path} is not an rnnkit vocabulary (expected UTF-8 JSON with "
                f"format {FORMAT!r}, got unreadable content: {error})"
            ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(
                f"Vocab.load: {path} is not an rnnkit vocabulary "
                f"(expected format {FORMAT!r}, got {found!r})"
            )
        if data.get("version") != VERSION:
            raise ValueError(
                f"Vocab.load: {path} has version {data.get('version')!r}, "
                f"this rnnkit reads version {VERSION}"
            )
        tokens, counts = data.get("tokens"), data.get("counts")
        well_formed = (
            isinstance(tokens, list)
            and isinstance(counts, list)
            and len(tokens) == len(counts)
            and all(isinstance(token, str) for token in tokens)
            and all(isinstance(n, int) for n in counts)
        )
        if not well_formed:
            raise ValueError(
                f"Vocab.load: {path} is damaged (expected a list of str 'tokens' and a list of "
                "int 'counts' of equal length)"
            )
        try:
            return cls(tokens, dict(zip(tokens, counts)), data.get("specials", ()))
        except ValueError as error:
            raise ValueError(f"Vocab.load: {path} is damaged: {error}") from None

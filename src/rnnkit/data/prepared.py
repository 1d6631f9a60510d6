"""Prepare a corpus of any size once: ``vocab.json`` + a memory-mapped token file + ``meta.json``.

Two streaming passes over the file: the first counts tokens and builds the vocabulary, the
second encodes and appends ids to the token file in chunks. Memory does not depend on the
corpus size; only the token counter grows, with the number of distinct tokens. The three
files appear together at the end (each written beside its target and renamed), so a failure
leaves no partial output.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.encoding import encode
from rnnkit.data.readers import read_corpus, rereadable
from rnnkit.text import DEFAULT_SPECIALS, Tokenizer, Vocab, atomic_path, get_tokenizer

FORMAT = "rnnkit.prepared"
VERSION = 1
VOCAB_FILE = "vocab.json"
TOKENS_FILE = "tokens.bin"
META_FILE = "meta.json"
_CHUNK_TOKENS = 1 << 20  # ids held before appending them to the token file (8 MiB of list)


@dataclass(frozen=True)
class PreparedCorpus:
    """A prepared corpus: its vocabulary, its ids as a read-only ``numpy.memmap`` ``(N,)``
    (uint16 when the vocabulary fits, else uint32) and ``meta`` (the contents of meta.json)."""

    directory: Path
    vocab: Vocab
    tokens: np.memmap
    meta: dict

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer the corpus was prepared with."""
        return get_tokenizer(**self.meta["tokenizer"])


def prepare(
    corpus: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    tokenizer: str | Tokenizer = "word",
    max_size: int | None = None,
    min_freq: int = 1,
    specials: Sequence[str] = DEFAULT_SPECIALS,
    unit: str = "line",
    bos: bool = False,
    eos: bool = True,
    progress: bool = True,
) -> PreparedCorpus:
    """Tokenize ``corpus`` (read by :func:`read_corpus` with ``unit``), build a vocabulary
    (``max_size``, ``min_freq``, ``specials`` as :meth:`Vocab.build`) and write the id stream,
    each line or sentence followed by ``</s>`` when ``eos`` (and preceded by ``<s>`` when
    ``bos``), into ``out_dir``. ``progress`` shows a bar of the bytes read in each pass."""
    with rereadable(corpus) as readable:
        return _prepare(readable, Path(out_dir), tokenizer, max_size, min_freq, specials, unit,
                        bos, eos, progress)


def _prepare(corpus: Path, out_dir: Path, tokenizer: Tokenizer | str, max_size: int | None,
             min_freq: int, specials: Sequence[str], unit: str, bos: bool, eos: bool,
             progress: bool) -> PreparedCorpus:
    if isinstance(tokenizer, str):
        tokenizer = get_tokenizer(tokenizer)
    counts: Counter[str] = Counter()
    texts = 0
    for text in read_corpus(corpus, unit=unit, progress=progress, desc="prepare 1/2: count"):
        counts.update(tokenizer.tokenize(text))
        texts += 1
    vocab = Vocab.from_counts(counts, max_size=max_size, min_freq=min_freq, specials=specials)
    del counts
    for flag, marker in ((bos, "bos_id"), (eos, "eos_id")):
        if flag:
            getattr(vocab, marker)  # fails now, before pass 2, if the specials lack the marker
    dtype = np.dtype(np.uint16 if len(vocab) <= 1 << 16 else np.uint32)
    out_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        meta_path, vocab_path, tokens_path = (
            stack.enter_context(atomic_path(out_dir / name))
            for name in (META_FILE, VOCAB_FILE, TOKENS_FILE)
        )
        count = _write_ids(corpus, tokens_path, tokenizer, vocab, dtype, unit, bos, eos, progress)
        vocab.save(vocab_path)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "tokens_file": TOKENS_FILE,
            "dtype": dtype.name,
            "count": count,
            "tokenizer": tokenizer.config(),
            "unit": unit,
            "bos": bos,
            "eos": eos,
            "texts": texts,
            "source": str(corpus),
            "source_bytes": corpus.stat().st_size,
        }
        meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return load_prepared(out_dir)


def _write_ids(
    corpus: Path,
    tokens_path: Path,
    tokenizer: Tokenizer,
    vocab: Vocab,
    dtype: np.dtype,
    unit: str,
    bos: bool,
    eos: bool,
    progress: bool,
) -> int:
    """Pass 2: append the ids of every text to ``tokens_path`` in chunks; return their count."""
    count = 0
    chunk: list[int] = []
    with open(tokens_path, "wb") as file:
        for text in read_corpus(corpus, unit=unit, progress=progress, desc="prepare 2/2: encode"):
            chunk += encode(tokenizer.tokenize(text), vocab, bos=bos, eos=eos)
            if len(chunk) >= _CHUNK_TOKENS:
                np.asarray(chunk, dtype=dtype).tofile(file)
                count += len(chunk)
                chunk.clear()
        np.asarray(chunk, dtype=dtype).tofile(file)
    return count + len(chunk)


def load_prepared(directory: str | os.PathLike) -> PreparedCorpus:
    """Open a directory written by :func:`prepare`; the tokens stay on disk (memory-mapped)."""
    directory = Path(directory)
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise ValueError(
            f"load_prepared: {directory} is not a prepared corpus (expected {META_FILE} in it)"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"load_prepared: {meta_path} is not readable JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(
            f"load_prepared: {meta_path} is not ours (expected format {FORMAT!r}, "
            f"got {meta.get('format') if isinstance(meta, dict) else type(meta).__name__!r})"
        )
    if meta.get("version") != VERSION:
        raise ValueError(
            f"load_prepared: {meta_path} has version {meta.get('version')!r}, "
            f"this rnnkit reads version {VERSION}"
        )
    vocab = Vocab.load(directory / VOCAB_FILE)
    dtype = np.dtype(meta["dtype"])
    tokens_path = directory / meta["tokens_file"]
    expected = meta["count"] * dtype.itemsize
    got = tokens_path.stat().st_size if tokens_path.is_file() else None
    if got != expected:
        raise ValueError(
            f"load_prepared: {tokens_path} should hold {meta['count']} {dtype.name} ids "
            f"({expected} bytes), got {got} bytes"
        )
    tokens = np.memmap(tokens_path, dtype=dtype, mode="r", shape=(meta["count"],))
    if len(tokens) and not 0 <= int(tokens.min()) <= int(tokens.max()) < len(vocab):
        raise ValueError(f"load_prepared: {tokens_path} holds ids outside the vocabulary of "
                         f"{len(vocab)} tokens ({int(tokens.min())} … {int(tokens.max())}); "
                         "the file is corrupt: prepare the corpus again")
    return PreparedCorpus(directory, vocab, tokens, meta)

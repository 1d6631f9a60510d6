"""File readers that stream: a plain corpus, labelled TSV/CSV, CoNLL columns, parallel pairs.

Every reader is a generator over a UTF-8 file that holds one line in memory at a time; bad
input is a ``ValueError`` that names the file and line (``path:line: ...``), and a file with
no records at all is an error rather than an empty stream.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from rnnkit.text import split_sentences

LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target")
"""Header names :func:`read_labeled` recognises as the label column."""
TEXT_NAMES = ("text", "sentence", "review", "content", "document", "comment")
"""Header names :func:`read_labeled` recognises as the text column."""

_PROGRESS_EVERY = 8192  # lines between progress-bar updates; a per-line update would cost more
_SENTENCE_BUFFER = 1 << 16  # characters of an unbroken paragraph held before splitting it


def iter_lines(
    path: str | os.PathLike,
    *,
    keepends: bool = False,
    progress: bool = False,
    desc: str | None = None,
) -> Iterator[tuple[int, str]]:
    """``(line_number, line)`` for each line of a UTF-8 file, numbered from 1.

    A byte-order mark is dropped; a NUL byte (a binary file) or bytes that are not UTF-8 raise
    ``ValueError`` naming ``path:line``. ``progress`` shows a tqdm bar of the bytes read.
    """
    path = Path(path)
    with (
        open(path, "rb") as file,
        tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=desc or path.name,
            disable=not progress,
        ) as bar,
    ):
        consumed = 0
        for number, raw in enumerate(file, start=1):
            consumed += len(raw)
            if number % _PROGRESS_EVERY == 0:
                bar.update(consumed - bar.n)
            if b"\0" in raw:
                raise ValueError(_nul_message(path, number, raw))
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}:{number}: not valid UTF-8 ({error.reason} at byte {error.start} of "
                    "the line); convert the file to UTF-8 first"
                ) from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line if keepends else line.rstrip("\r\n")
        bar.update(consumed - bar.n)


def _nul_message(path: Path, number: int, raw: bytes) -> str:
    """Why a line holds a NUL byte: UTF-16 (a byte-order mark, or NULs on one side of every
    ASCII character) or UTF-32 text, or a binary file."""
    sample = raw[:256]
    nul_parities = {index % 2 for index, byte in enumerate(sample) if byte == 0}
    if raw.startswith((b"\xff\xfe\0\0", b"\0\0\xfe\xff")):
        encoding = "UTF-32"
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (
            len(nul_parities) == 1 and sample.count(0) * 3 >= len(sample)):
        encoding = "UTF-16"  # ASCII in UTF-16: a NUL beside every character, on one side
    else:
        return f"{path}:{number}: a NUL byte; this looks like a binary file, not text"
    return (f"{path}:{number}: this looks like {encoding} text; rnnkit reads UTF-8: convert "
            f"it first (e.g. iconv -f {encoding} -t UTF-8)")


def _empty(function: str, path: str | os.PathLike, what: str) -> ValueError:
    return ValueError(f"{function}: {path} holds no {what} (the file is empty or blank)")


def read_corpus(
    path: str | os.PathLike,
    *,
    unit: str = "line",
    progress: bool = False,
    desc: str | None = None,
) -> Iterator[str]:
    """The text of a plain corpus, stripped, blank lines skipped.

    ``unit="line"`` yields each line (a sentence per line, as PTB); ``unit="sentence"`` reads
    raw text, joins the lines of a paragraph and yields its sentences
    (:func:`rnnkit.text.split_sentences`) in bounded memory: a sentence longer than 64k
    characters is cut. ``progress`` shows a bar of the bytes read, titled ``desc``.
    """
    if unit not in ("line", "sentence"):
        raise ValueError(f"read_corpus: unit must be 'line' or 'sentence', got {unit!r}")
    lines = (line.strip() for _, line in iter_lines(path, progress=progress, desc=desc))
    pieces = (line for line in lines if line) if unit == "line" else _sentences(lines)
    found = False
    for piece in pieces:
        found = True
        yield piece
    if not found:
        raise _empty("read_corpus", path, "text")


def _sentences(lines: Iterator[str]) -> Iterator[str]:
    paragraph: list[str] = []
    size = 0
    for line in lines:
        if line:
            paragraph.append(line)
            size += len(line)
        if paragraph and (not line or size > _SENTENCE_BUFFER):
            sentences = split_sentences(" ".join(paragraph))
            # The last sentence of an overlong paragraph may go on in the next line, unless it
            # alone fills the buffer: then it is cut there, which keeps memory bounded.
            carried = None
            if line and sentences and len(sentences[-1]) <= _SENTENCE_BUFFER:
                carried = sentences.pop()
            yield from sentences
            paragraph = [carried] if carried else []
            size = len(carried or "")
    yield from split_sentences(" ".join(paragraph))


def _column(
    argument: str,
    column: str | int | None,
    header: list[str] | None,
    width: int,
    known_names: tuple[str, ...],
    path: Path,
) -> int | None:
    """Index of one column of :func:`read_labeled`; ``None`` when it must be inferred."""
    if isinstance(column, str):
        if header is None:
            raise ValueError(
                f"read_labeled: {argument}={column!r} names a column, but {path} has no header "
                "row; pass a column number or header=True"
            )
        names = [name.strip().lower() for name in header]
        if column.strip().lower() not in names:
            raise ValueError(
                f"read_labeled: unknown {argument.removesuffix('_column')} column {column!r} in "
                f"{path}; its header has {header}"
            )
        return names.index(column.strip().lower())
    if isinstance(column, int):
        if not -width <= column < width:
            raise ValueError(
                f"read_labeled: {argument} must lie in [{-width}, {width}) for the {width} "
                f"columns of {path}, got {column}"
            )
        return column % width
    if column is not None:
        raise TypeError(f"read_labeled: {argument} must be a str, an int or None, got {column!r}")
    if header is not None:
        names = [name.strip().lower() for name in header]
        return next((names.index(name) for name in known_names if name in names), None)
    return None


def read_labeled(
    path: str | os.PathLike,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    *,
    delimiter: str | None = None,
    header: bool | None = None,
) -> Iterator[tuple[str, str]]:
    """``(text, label)`` for each row of a TSV or CSV file.

    ``delimiter`` defaults to a tab for ``.tsv``/``.tab`` files, a comma for ``.csv``, else
    whatever the first line holds (tab before comma). CSV follows RFC 4180 quoting (fields may
    hold commas, quotes and newlines); TSV fields are taken as they are. A header row is
    assumed when a column is given by name, else detected by a known name in the first row
    (``label``, ``text``, ``review``, ... see ``LABEL_NAMES``/``TEXT_NAMES``). Columns given
    as ``None`` are found by those names; in a two-column file the text is the column that is
    not the label. Every row must have as many columns as the first.
    """
    path = Path(path)
    rows = _csv_rows(path, delimiter)
    first = next(rows, None)
    if first is None:
        raise _empty("read_labeled", path, "rows")
    _, first_row = first
    if header is None:
        named = isinstance(text_column, str) or isinstance(label_column, str)
        known = {name.strip().lower() for name in first_row} & {*LABEL_NAMES, *TEXT_NAMES}
        header = named or bool(known)
    names = first_row if header else None
    width = len(first_row)
    label_index = _column("label_column", label_column, names, width, LABEL_NAMES, path)
    if label_index is None:
        raise ValueError(
            f"read_labeled: cannot tell which column of {path} holds the label (first row "
            f"{first_row}); pass label_column= as a header name or a column number"
        )
    text_index = _column("text_column", text_column, names, width, TEXT_NAMES, path)
    if text_index is None and width == 2:
        text_index = 1 - label_index
    if text_index is None:
        raise ValueError(
            f"read_labeled: cannot tell which column of {path} holds the text (first row "
            f"{first_row}); pass text_column= as a header name or a column number"
        )
    if text_index == label_index:
        raise ValueError(
            f"read_labeled: text and label are the same column ({text_index}) of {path}"
        )
    found = False
    if not header:
        found = True
        yield first_row[text_index], _label(first_row[label_index], path, first[0])
    for line_number, row in rows:
        if len(row) != width:
            raise ValueError(
                f"{path}:{line_number}: expected {width} columns (as in line 1), got {len(row)}"
            )
        found = True
        yield row[text_index], _label(row[label_index], path, line_number)
    if not found:
        raise _empty("read_labeled", path, "rows below its header")


def _label(label: str, path: Path, line_number: int) -> str:
    """A label field, which must not be blank (a blank one would become a class of its own)."""
    if not label.strip():
        raise ValueError(f"{path}:{line_number}: the label is empty")
    return label


def _csv_rows(path: Path, delimiter: str | None) -> Iterator[tuple[int, list[str]]]:
    """``(line_number, fields)`` per record that is not blank; the number is the record's
    first line."""
    lines = iter_lines(path, keepends=True)
    first = next(lines, None)
    if first is None:
        return
    if delimiter is None:
        suffix = path.suffix.lower()
        if suffix in (".tsv", ".tab"):
            delimiter = "\t"
        elif suffix == ".csv":
            delimiter = ","
        else:
            delimiter = "\t" if "\t" in first[1] else ","
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    texts = (line for _, line in itertools.chain([first], lines))
    reader = csv.reader(texts, delimiter=delimiter, quoting=quoting, strict=True)
    start = 1
    try:
        for row in reader:
            if any(field.strip() for field in row):
                yield start, row
            start = reader.line_num + 1
    except csv.Error as error:
        raise ValueError(
            f"{path}:{start}: not a valid {delimiter!r}-separated row ({error})"
        ) from None


def read_conll(
    path: str | os.PathLike, *, token_column: int = 0, tag_column: int = -1
) -> Iterator[tuple[list[str], list[str]]]:
    """``(tokens, tags)`` per sentence of a CoNLL column file (``token ... tag`` per line,
    a blank line between sentences, ``-DOCSTART-`` lines skipped). Every token line must have
    as many columns as the first."""
    path = Path(path)
    tokens: list[str] = []
    tags: list[str] = []
    width = None
    found = False
    for line_number, line in iter_lines(path):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                found = True
                yield tokens, tags
                tokens, tags = [], []
            continue
        if width is None:
            width = len(fields)
            for argument, column in (("token_column", token_column), ("tag_column", tag_column)):
                if not -width <= column < width:
                    raise ValueError(
                        f"read_conll: {argument} must lie in [{-width}, {width}) for the {width} "
                        f"columns of {path}:{line_number}, got {column}"
                    )
            if token_column % width == tag_column % width:
                raise ValueError(
                    f"read_conll: the tokens and the tags are the same column ({column % width})"
                    f" of the {width} column(s) of {path}:{line_number}; a tagging file needs "
                    "'token ... tag' lines"
                )
        elif len(fields) != width:
            raise ValueError(
                f"{path}:{line_number}: expected {width} columns (as in the first token line), "
                f"got {len(fields)}"
            )
        tokens.append(fields[token_column])
        tags.append(fields[tag_column])
    if tokens:
        found = True
        yield tokens, tags
    if not found:
        raise _empty("read_conll", path, "sentences")


def read_pairs(
    path: str | os.PathLike, *, source_column: int = 0, target_column: int = 1
) -> Iterator[tuple[str, str]]:
    """``(source, target)`` per line of a tab-separated parallel corpus (``English\\t中文``);
    blank lines are skipped and every line must have as many columns as the first."""
    path = Path(path)
    width = None
    found = False
    for line_number, line in iter_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if width is None:
            width = len(fields)
            if width < 2:
                raise ValueError(
                    f"{path}:{line_number}: expected tab-separated source and target, got one "
                    "column"
                )
            for argument, column in (
                ("source_column", source_column),
                ("target_column", target_column),
            ):
                if not -width <= column < width:
                    raise ValueError(
                        f"read_pairs: {argument} must lie in [{-width}, {width}) for the {width} "
                        f"columns of {path}, got {column}"
                    )
        elif len(fields) != width:
            raise ValueError(
                f"{path}:{line_number}: expected {width} tab-separated columns (as in the first "
                f"line), got {len(fields)}"
            )
        found = True
        yield fields[source_column], fields[target_column]
    if not found:
        raise _empty("read_pairs", path, "pairs")


def read_conll_tokens(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """Sentences of a CoNLL file to tag: ``(tokens, lines)`` with each token's original
    line, so the output can append a column (any number of columns, the first is the token;
    every line must have as many as the first)."""
    sentences, tokens, lines, width = [], [], [], None
    for number, line in iter_lines(path):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                sentences.append((tokens, lines))
                tokens, lines = [], []
            continue
        width = width or len(fields)
        if len(fields) != width:
            raise ValueError(f"{path}:{number}: expected {width} columns (as in the first token "
                             f"line), got {len(fields)}")
        tokens.append(fields[0])
        lines.append(line.rstrip())
    if tokens:
        sentences.append((tokens, lines))
    if not sentences:
        raise ValueError(f"read_conll_tokens: {path} holds no sentences (the file is empty or "
                         "blank)")
    return sentences


@contextlib.contextmanager
def rereadable(path: str | os.PathLike) -> Iterator[Path]:
    """``path`` itself when it is a regular file; else (a pipe such as ``<(zcat x.gz)``, a
    device) a temporary copy of what it gives, so that readers needing two passes see it
    all both times. The copy is removed on exit."""
    path = Path(path)
    if path.is_file() or not path.exists():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="rnnkit-") as directory:
        copy = Path(directory) / path.name
        with open(path, "rb") as source, open(copy, "wb") as target:
            shutil.copyfileobj(source, target)
        yield copy

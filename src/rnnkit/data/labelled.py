"""Labelled-text files in the formats the classifier reads, with their format sniffed.

``tsv`` / ``csv`` are read by :func:`rnnkit.data.read_labeled` (header names such as
``label,review`` are recognised); ``label-first`` is one example per line, ``<label> <text>``
separated by the first space (SST-2's files); ``auto`` picks by suffix (``.tsv``/``.tab``,
``.csv``), else a tab in the first line means TSV, else label-first. A TSV/CSV file whose first
row names no known column (``label``, ``text``, ``review``, …) is read as ``text<sep>label``
unless the columns are given.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rnnkit.data.readers import LABEL_NAMES, TEXT_NAMES, iter_lines, read_labeled, rereadable

LABELLED_FORMATS = ("auto", "tsv", "csv", "label-first")


def resolve_format(path: str | Path, format: str) -> str:
    """The concrete format of ``path`` (``format`` itself unless it is ``auto``)."""
    if format not in LABELLED_FORMATS:
        raise ValueError(f"format must be one of {', '.join(LABELLED_FORMATS)}, got {format!r}")
    if format != "auto":
        return format
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "tsv"
    if suffix == ".csv":
        return "csv"
    first = next(iter_lines(path), (0, ""))[1]
    return "tsv" if "\t" in first else "label-first"


def read_label_first(path: str | Path) -> Iterator[tuple[str, str]]:
    """``(text, label)`` per non-blank line ``<label> <text>`` (the label is the first
    space-separated field), as in SST-2's ``stsa.binary.*`` files."""
    found = False
    for line_number, line in iter_lines(path):
        if not line.strip():
            continue
        label, _, text = line.strip().partition(" ")
        if not text.strip():
            raise ValueError(f"{path}:{line_number}: expected '<label> <text>', got only "
                             f"{label!r}")
        found = True
        yield text, label
    if not found:
        raise ValueError(f"read_label_first: {path} holds no examples (the file is empty or "
                         "blank)")


def read_examples(
    path: str | Path,
    format: str = "auto",
    text_column: str | int | None = None,
    label_column: str | int | None = None,
) -> list[tuple[str, str]]:
    """``(text, label)`` pairs of a labelled file in one of :data:`LABELLED_FORMATS`."""
    with rereadable(path) as readable:
        resolved = resolve_format(readable, format)
        if resolved == "label-first":
            return list(read_label_first(readable))
        delimiter = "\t" if resolved == "tsv" else ","
        if text_column is None and label_column is None and \
                not _has_known_header(readable, delimiter):
            text_column, label_column = 0, -1
        return list(read_labeled(readable, text_column, label_column, delimiter=delimiter))


def _has_known_header(path: Path, delimiter: str) -> bool:
    first = next(iter_lines(path), (0, ""))[1]
    names = {name.strip().strip('"').lower() for name in first.split(delimiter)}
    return bool(names & {*LABEL_NAMES, *TEXT_NAMES})

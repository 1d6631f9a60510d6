"""A fixed-seed held-out split of a data file into ``train`` and ``test`` files of the same
format, so a held-out score can be reproduced with ``rnnkit evaluate``.

Records are lines (blank lines dropped), except in ``.csv`` files, which are read as RFC-4180
records (quoted fields may hold newlines) and keep their header row in both outputs when the
first row names a known column (``label``, ``text``, ``review``, ...). A CoNLL file
(``--records blocks``) splits by blank-line separated sentences.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from rnnkit.data import iter_lines
from rnnkit.data.readers import LABEL_NAMES, TEXT_NAMES
from rnnkit.text import atomic_path

RECORDS = ("lines", "csv", "blocks")


def _records(path: Path, records: str) -> tuple[str, list[str]]:
    """The header text (``""`` when none) and the records as text, each ending in a newline."""
    if records == "csv":
        rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"), newline="")))
        rows = [row for row in rows if any(field.strip() for field in row)]
        names = {field.strip().lower() for field in rows[0]} if rows else set()
        has_header = bool(names & {*LABEL_NAMES, *TEXT_NAMES})
        texts = [_csv_line(row) for row in rows]
        return (texts[0], texts[1:]) if has_header else ("", texts)
    if records == "blocks":
        blocks, current = [], []
        for _, line in iter_lines(path):
            if line.strip():
                current.append(line + "\n")
            elif current:
                blocks.append("".join(current) + "\n")
                current = []
        if current:
            blocks.append("".join(current) + "\n")
        return "", blocks
    return "", [line + "\n" for _, line in iter_lines(path) if line.strip()]


def _csv_line(row: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue()


def split_file(
    path: str | Path, out_dir: str | Path, test_fraction: float = 0.1, seed: int = 0,
    records: str | None = None, overwrite: bool = False,
) -> tuple[Path, Path, int, int]:
    """Write ``out_dir/train<suffix>`` and ``out_dir/test<suffix>``: a seeded random
    ``test_fraction`` of the records (in their original order) goes to test. ``records``
    defaults to ``csv`` for ``.csv`` files, else ``lines``. Returns both paths and counts.

    Nothing is written when an output would be the input, or already exists without
    ``overwrite``: either would lose data that no split can bring back."""
    path, out_dir = Path(path), Path(out_dir)
    targets = [out_dir / f"{name}{path.suffix}" for name in ("train", "test")]
    for target in targets:
        if target.resolve() == path.resolve():
            raise ValueError(f"split: the output {target} is the input {path}; choose another "
                             "--out-dir")
        if target.exists() and not overwrite:
            raise ValueError(f"split: {target} exists; replace it with --overwrite or choose "
                             "another --out-dir")
    records = records or ("csv" if path.suffix.lower() == ".csv" else "lines")
    if records not in RECORDS:
        raise ValueError(f"split: records must be one of {', '.join(RECORDS)}, got {records!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"split: test_fraction must be in (0, 1), got {test_fraction}")
    header, items = _records(path, records)
    test_count = round(test_fraction * len(items))
    if not 0 < test_count < len(items):
        raise ValueError(f"split: {path} has {len(items)} records; a test_fraction of "
                         f"{test_fraction} leaves one side empty")
    test_indices = set(np.random.default_rng(seed).permutation(len(items))[:test_count].tolist())
    out_dir.mkdir(parents=True, exist_ok=True)
    for target, keep in zip(targets, (False, True)):
        chosen = [item for index, item in enumerate(items) if (index in test_indices) == keep]
        with atomic_path(target) as temporary:
            temporary.write_text(header + "".join(chosen), encoding="utf-8")
    return targets[0], targets[1], len(items) - test_count, test_count

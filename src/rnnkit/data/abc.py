"""Tunes in ABC notation: read files, folders or music21's bundled folk corpus, one tune per
example, header fields kept or stripped.

An ABC file is a list of tunes; each starts with its ``X:`` (reference number) line, goes on
with header fields up to the ``K:`` (key) line, then the music, and ends at a blank line (or
at the next ``X:``). A tune comes out as its lines joined by ``\\n``, cleaned up:

- the file header's fields are given to every tune that lacks them (see below);
- ``%`` comments (whole lines, ``%%`` directives included, and the tail of a line after an
  unescaped ``%``) and anything else outside a tune (free text: a title page, notes between
  tunes) are dropped;
- a line ending in ``\\`` goes on in the next one (ABC's line continuation): they are
  joined, the backslash dropped;
- field lines are written ``F:value`` (the spaces some collections put after the colon
  dropped), lines are stripped, CRLF and CR line ends read as ``\\n``;
- a tune with no ``K:`` line (its header never ends: the standard requires one, and without
  it the tune has no key) or no music after it is skipped.

The file header (ABC 2.1, section 2.2.2) is a file's first block of lines when it holds
field lines only (comment lines vanish, leading blank lines are skipped); it ends at a blank
line (or at an ``X:`` line that follows it at once). Its fields set defaults for every tune of
the file, and the standard asks a program that takes tunes out of a file to copy them into
each tune's header: a tune gets each header field whose letter its own header (the lines
before its ``K:``) lacks, inserted just before its ``K:`` line — ``X:`` stays first and
``T:`` second, as 2.1 asks, and music21 reads header fields in any order (an ``L:`` wins over
the length ``M:`` implies wherever it stands). A tune's own field wins: a file header's
``L:1/8`` makes a 2/4 tune's ``C`` an eighth, where music21's default from ``M:2/4`` would
make it a sixteenth, unless the tune says ``L:`` itself. Only the fields 2.1 allows in a file
header count (:data:`FILE_HEADER_FIELDS`; not ``K:``, which ends a tune's header, nor ``X T
P Q V W``); its ``%%`` directives are dropped, as in tunes. A first block that holds any
other line is free text (2.1 puts free text after the file header), and so is a block of
fields later in the file: both are dropped and set nothing.

``headers="strip"`` keeps only what a player needs: the fields of :data:`PLAYER_FIELDS`
(in the header, the file header's included, and between the music lines where a tune changes
key or meter), and drops titles, composers, origins, sources, notes, history, transcription,
lyrics and the like. music21 parses a tune from these alone; it needs ``L:`` or ``M:`` to
know the note lengths (``L:`` defaults from ``M:``), and reads a tune without ``K:`` as C
major, which is one more reason such tunes are skipped. ``headers="keep"`` keeps every field.

Files are read as UTF-8, or as Latin-1 (ABC's charset before version 2.1) when they are not
valid UTF-8. No torch here: this is the data layer.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from rnnkit.extras import require

HEADER_CHOICES = ("keep", "strip")
"""What :func:`split_tunes` does with header fields."""
PLAYER_FIELDS = frozenset("XMLQKPV")
"""The fields ``headers="strip"`` keeps: reference number (X), meter (M), unit note length
(L), tempo (Q), key (K), parts and their order (P), voices (V) — what is played, not what is
said about it."""
FILE_HEADER_FIELDS = frozenset("ABCDFGHILMmNORrSUZ")
"""The fields ABC 2.1 allows in a file header (its table of information fields): background
(area, book, composer, discography, file, group, history, notes, origin, rhythm, source,
transcription), instructions, macros, user symbols, remarks, and of what is played only the
unit note length (L) and the meter (M)."""
MODEL_CONFIG_FILE = "config.json"
"""The file a model directory keeps its configuration in (``rnnkit.train.directory``'s)."""
MODEL_FORMAT = "rnnkit.model"
"""The ``format`` that file states (``rnnkit.train.directory``'s)."""
RUN_LOCK_FILE = ".rnnkit.lock"
"""The lock a training run holds in its directory (``rnnkit.train.run_directory``'s)."""
FOLK_COLLECTIONS = ("ryansMammoth", "oneills1850", "airdsAirs", "miscFolk",
                    "nottingham-dataset")
"""music21's folders of folk tunes that :func:`bundled_folk_tunes` reads (see there why
``essenFolksong`` is not one of them)."""

_FIELD = re.compile(r"^([A-Za-z+]):\s*(.*)$")
_COMMENT = re.compile(r"(?<!\\)%.*$")


def split_tunes(text: str, headers: str = "keep") -> list[str]:
    """The tunes of ABC ``text`` (see the module docstring), each its cleaned lines joined by
    ``\\n`` and starting with its ``X:`` line, the file header's fields given to it;
    ``headers`` is ``"keep"`` or ``"strip"``."""
    if headers not in HEADER_CHOICES:
        raise ValueError(f"split_tunes: headers must be one of {', '.join(HEADER_CHOICES)}, "
                         f"got {headers!r}")
    lines = list(_logical_lines(text))
    tunes: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        if _field_name(line) == "X":
            _close(current, tunes)
            current = [line]
        elif current is not None and line:
            current.append(line)
        elif not line:
            _close(current, tunes)
            current = None
    _close(current, tunes)
    defaults = _file_header(lines)
    return [_clean(_with_defaults(tune, defaults), headers) for tune in tunes
            if _is_complete(tune)]


def _logical_lines(text: str) -> Iterable[str]:
    """The lines of ``text`` without comments, stripped, continuations joined; a comment
    line vanishes (it neither ends a tune nor joins the lines around it)."""
    pending = ""
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw.lstrip().startswith("%"):
            continue
        line = _COMMENT.sub("", raw).strip()
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1]
            continue
        yield (pending + line).strip()
        pending = ""
    if pending:
        yield pending.strip()


def _field_name(line: str) -> str | None:
    """The field letter of a field line (``K:G`` → ``K``); None for music and blank lines.
    A bar line such as ``|:`` is music: a field's letter stands at the start of the line."""
    match = _FIELD.match(line)
    return match.group(1) if match else None


def _close(tune: list[str] | None, tunes: list[list[str]]) -> None:
    if tune is not None:
        tunes.append(tune)


def _file_header(lines: list[str]) -> list[tuple[str, str]]:
    """The file header's fields as ``(letter, line)`` pairs, a ``+:`` continuation line under
    its field's letter, those 2.1 does not allow there left out; none when the first block
    of ``lines`` is free text or a tune."""
    fields: list[tuple[str, str]] = []
    for line in itertools.dropwhile(lambda blank: not blank, lines):
        name = _field_name(line)
        if not line or name == "X":
            break
        if name is None:
            return []
        fields.append((fields[-1][0] if name == "+" and fields else name, line))
    return [(name, line) for name, line in fields if name in FILE_HEADER_FIELDS]


def _with_defaults(tune: list[str], defaults: list[tuple[str, str]]) -> list[str]:
    """``tune`` (complete: it has a ``K:`` line) with the file header's fields whose letters
    its own header lacks, inserted before its ``K:`` line."""
    names = [_field_name(line) for line in tune]
    key = names.index("K")
    own = set(names[:key])
    return [*tune[:key], *(line for name, line in defaults if name not in own), *tune[key:]]


def _is_complete(tune: list[str]) -> bool:
    """A header that ends (a ``K:`` line) and at least one music line after it."""
    names = [_field_name(line) for line in tune]
    if "K" not in names:
        return False
    return any(name is None for name in names[names.index("K") + 1:])


def _clean(tune: list[str], headers: str) -> str:
    """The tune's lines, field lines as ``F:value``, non-player fields dropped when
    ``headers == "strip"``."""
    kept = []
    for line in tune:
        match = _FIELD.match(line)
        if match is None:
            kept.append(line)
        elif headers == "keep" or match.group(1) in PLAYER_FIELDS:
            kept.append(f"{match.group(1)}:{match.group(2).strip()}")
    return "\n".join(kept)


def decode_abc(data: bytes) -> str:
    """The text of an ABC file's bytes: UTF-8 (a byte-order mark dropped), else Latin-1."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def abc_files(path: str | os.PathLike, argument: str = "path") -> list[Path]:
    """``path`` itself when it is a file, else the ``.abc`` files under the folder ``path``
    (recursively, sorted), skipping every folder below ``path`` that is a model directory or
    a training run's (:func:`is_run_directory`): it holds its run's training and held-out
    tunes, ``corpus/train.abc`` and ``corpus/valid.abc``, and a run whose ``--out`` was
    inside ``--data`` must not feed the next. A missing path or a folder without ``.abc``
    files is a ValueError naming ``argument``."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"{argument} {str(path)!r}: no such file or folder")
    files = []
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = [name for name in subfolders
                         if not is_run_directory(Path(folder, name))]
        files += [Path(folder, name) for name in names if Path(name).suffix.lower() == ".abc"
                  and Path(folder, name).is_file()]
    if not files:
        raise ValueError(f"{argument} {str(path)!r}: the folder holds no .abc files")
    return sorted(files)


def is_run_directory(folder: Path) -> bool:
    """Whether ``folder`` is an rnnkit model directory (its ``config.json`` says ``"format":
    "rnnkit.model"``) or one a training run has claimed (it holds ``.rnnkit.lock``: a run
    in progress, or one killed before it wrote its config). The names are those of
    :mod:`rnnkit.train.directory` and :mod:`rnnkit.train.run_directory`, spelled out here
    because the data layer imports nothing from training."""
    if (folder / RUN_LOCK_FILE).is_file():
        return True
    try:
        config = json.loads((folder / MODEL_CONFIG_FILE).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and config.get("format") == MODEL_FORMAT


def read_abc(path: str | os.PathLike, headers: str = "keep", argument: str = "path"
             ) -> list[str]:
    """The tunes of an ABC file, or of every ``.abc`` file under a folder (in sorted path
    order), as :func:`split_tunes` gives them. A path that holds no tune is a ValueError
    naming ``argument`` (``--data`` on the command line)."""
    tunes = []
    for file in abc_files(path, argument):
        tunes += split_tunes(decode_abc(file.read_bytes()), headers)
    if not tunes:
        raise ValueError(f"{argument} {str(path)!r} holds no ABC tune (a tune starts with "
                         "an X: line and has a K: line before its music)")
    return tunes


def bundled_folk_tunes(headers: str = "keep",
                       collections: Sequence[str] = FOLK_COLLECTIONS) -> list[str]:
    """The folk tunes in ABC that music21 ships in its corpus, read by :func:`read_abc` from
    the folders ``collections`` (default :data:`FOLK_COLLECTIONS`, in that order).

    The default is the instrumental dance and air collections of Britain and Ireland
    (Ryan's Mammoth Collection, O'Neill's Music of Ireland, Aird's Airs, two collections of
    fife and Northumbrian tunes, two tunes of the Nottingham dataset): one tradition, edited
    by hand, with tune types, ornaments and chord symbols. ``essenFolksong`` (the Essen
    collection: German, other European and Chinese folk *songs*) is left out. Its ABC holds
    no lyrics (no ``W:``/``w:`` field; German titles and notes only), but its melodies are
    sung ones, converted from the EsAC encoding in one plain style without ornaments or
    chord symbols, and it has twice as many tunes as the rest together, so a model of both
    would mostly learn Essen; its licence, too, is narrower (non-commercial use, see its
    ``license.txt``). Pass ``collections=(*FOLK_COLLECTIONS, "essenFolksong")`` (or its
    folder as ``--data``) to train on it. ``josquin`` (Renaissance polyphony) is not folk.
    """
    corpus = music21_corpus_folder()
    tunes = []
    for name in collections:
        folder = corpus / name
        if not folder.is_dir():
            raise ValueError(f"bundled_folk_tunes: music21's corpus has no collection "
                             f"{name!r} (looked in {corpus})")
        tunes += read_abc(folder, headers, argument=f"music21 corpus {name}")
    return tunes


def music21_corpus_folder() -> Path:
    """The folder of music21's bundled corpus; a :class:`~rnnkit.extras.MissingExtra`
    naming the ``music`` extra when music21 is missing."""
    common = require("music21.common", "music", "reading the bundled folk tunes")
    return Path(common.getCorpusFilePath())


def write_abc_file(tunes: Sequence[str], path: str | os.PathLike) -> Path:
    """Write ``tunes`` to ``path`` as one ABC file: each tune's ``X:`` renumbered 1, 2, …
    (reference numbers are unique within a file), one blank line between tunes."""
    path = Path(path)
    numbered = [_renumbered(tune, number) for number, tune in enumerate(tunes, start=1)]
    path.write_text("\n\n".join(numbered) + "\n", encoding="utf-8")
    return path


def _renumbered(tune: str, number: int) -> str:
    first, newline, rest = tune.partition("\n")
    if _field_name(first) != "X":
        raise ValueError(f"write_abc_file: a tune must start with its X: line, got {first!r}")
    return f"X:{number}{newline}{rest}"

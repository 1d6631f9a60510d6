"""The corpus of a language model of ABC tunes: tunes read, split into training and held-out
tunes, and written into the model directory, where the usual character pipeline prepares
them (:mod:`rnnkit.tasks.language_modeling`).

The held-out split is whole tunes, never a tune cut in two: without a validation file, a
``fraction`` of the tunes drawn by a seeded shuffle. A shuffle rather than the last tunes,
because collections are ordered — by book, by tune type (airs, then jigs, then reels), by
number — so the last tenth would be one kind of tune and its figures would say little about
the rest. No held-out tune is also a training tune: tunes that occur twice (the same lines
once cleaned, ``X:`` aside: collections share tunes) are kept once, within the corpus and
within a validation file, and a corpus tune that a validation file holds is left out of
training.
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.data.abc import bundled_folk_tunes, read_abc, write_abc_file
from rnnkit.tasks.common import split_held_out
from rnnkit.tasks.lm_pipeline import TRAIN_TUNES_FILE, VALID_TUNES_FILE


def tune_body(tune: str) -> str:
    """A tune's lines after its ``X:`` line: what tells two tunes apart (a reference number
    only numbers a tune within its file)."""
    return tune.partition("\n")[2]


def distinct_tunes(tunes: list[str]) -> list[str]:
    """``tunes`` in their order, each tune whose :func:`tune_body` matches an earlier one's
    left out."""
    seen: set[str] = set()
    kept = []
    for tune in tunes:
        body = tune_body(tune)
        if body not in seen:
            seen.add(body)
            kept.append(tune)
    return kept


def tune_splits(corpus: str | None, valid: str | None, headers: str, fraction: float,
                seed: int) -> tuple[list[str], list[str]]:
    """``(training, held_out)`` tunes: the distinct tunes of ``corpus`` (a file or folder;
    None: music21's bundled folk tunes) and of ``valid`` when given, the corpus tunes that
    ``valid`` holds left out of training; else a seeded ``fraction`` of the distinct corpus
    tunes (see the module docstring)."""
    if corpus is None:
        tunes = bundled_folk_tunes(headers)
    else:
        tunes = read_abc(corpus, headers, argument="--data")
    tunes = distinct_tunes(tunes)
    if valid is not None:
        return _apart_from(tunes, distinct_tunes(read_abc(valid, headers, argument="--valid")),
                           corpus, valid)
    if len(tunes) < 2:
        raise ValueError(f"--data {corpus!r} holds {len(tunes)} distinct tune: a held-out "
                         "share needs at least two (or pass --valid)")
    return split_held_out(tunes, fraction, seed)


def _apart_from(tunes: list[str], held_out: list[str], corpus: str | None, valid: str
                ) -> tuple[list[str], list[str]]:
    """``(tunes that held_out does not hold, held_out)``; none left is a ValueError naming
    ``--data`` and ``--valid``."""
    held_out_bodies = {tune_body(tune) for tune in held_out}
    training = [tune for tune in tunes if tune_body(tune) not in held_out_bodies]
    if not training:
        source = "music21's bundled folk tunes" if corpus is None else repr(corpus)
        raise ValueError(f"--data {source}: every tune is also in --valid {valid!r}, so none "
                         "is left to train on; hold out other tunes")
    return training, held_out


def write_abc_corpus(corpus: str | None, valid: str | None, headers: str, fraction: float,
                     seed: int, corpus_dir: Path) -> Path:
    """Write the training and held-out tunes (:func:`tune_splits`) to ``corpus_dir`` as
    :data:`TRAIN_TUNES_FILE` and :data:`VALID_TUNES_FILE`; the training file's path."""
    train, held_out = tune_splits(corpus, valid, headers, fraction, seed)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    write_abc_file(held_out, corpus_dir / VALID_TUNES_FILE)
    return write_abc_file(train, corpus_dir / TRAIN_TUNES_FILE)

"""Tunes out of a character language model trained on ABC notation: :func:`generate_tunes`
samples them, :func:`write_tunes` writes each as ``.abc`` and, through music21, as MIDI and
MusicXML. The checks of "is it music" are in :mod:`rnnkit.tasks.music_metrics`.

music21 is an optional dependency (``pip install 'rnnkit[music]'``), imported on first use.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.tasks.music_metrics import (
    METRICS,
    TuneScore,
    error_reason,
    music21_module,
    parse_abc,
    quiet_music21,
    score_tune,
)
from rnnkit.text.tunes import TUNE_CHARS, GeneratedTune

MAX_CHARS = TUNE_CHARS
"""New characters sampled per tune by default (:data:`rnnkit.text.tunes.TUNE_CHARS`)."""
FORMATS = ("abc", "mid", "musicxml")
"""Files :func:`write_tunes` can write per tune (``abc`` always)."""
MUSIC21_FORMAT = {"mid": "midi", "musicxml": "musicxml"}
TUNE_FILE = re.compile(r"\.?tune_\d{3,}\.(?:abc|mid|musicxml)(?:\.partial)?")
"""The names :func:`write_tunes` writes (and its temporary names)."""


class UnplayableTuneWarning(UserWarning):
    """A tune music21 cannot read (or reads to no note), written as ``.abc`` only; or one it
    reads but cannot write in some format, written in the others."""


def generate_tunes(pipeline: Any, n: int, *, seed: int | None, temperature: float = 1.0,
                   max_chars: int = MAX_CHARS, prompt: str = "X:", top_k: int | None = None,
                   top_p: float | None = None) -> list[GeneratedTune]:
    """``n`` tunes from a character language model trained on ABC tunes in stream mode (a
    :class:`~rnnkit.tasks.lm_pipeline.LanguageModelPipeline`, torch or ONNX, whether its
    format is ``abc`` or it read a plain file of tunes), sampled as one batch of at most
    ``max_chars`` new characters each (``temperature``, ``top_k``, ``top_p`` as in its
    ``generate``), each stopped at its end (:func:`~rnnkit.text.tunes.cut_tune`) and
    saying whether it got there. Another model is a ValueError naming its level or mode."""
    return pipeline.sample_tunes(prompt, n=n, max_tokens=max_chars, temperature=temperature,
                                 top_k=top_k, top_p=top_p, seed=seed)


@dataclass(frozen=True)
class WrittenTune:
    """What :func:`write_tunes` did with one tune: the files it wrote (format → path; ``abc``
    always), the tune's :class:`TuneScore`, and why music21 could not read it (``""`` if it
    could) or could not write a format."""

    files: dict[str, Path]
    score: TuneScore
    problem: str = field(default="")


def write_tunes(tunes: Sequence[str], out_dir: str | Path,
                formats: Sequence[str] = FORMATS, *, overwrite: bool = False
                ) -> list[WrittenTune]:
    """Write tune ``i`` (1-based) as ``out_dir/tune_00i.abc`` and, through music21, as
    ``.mid`` and ``.musicxml`` (those in ``formats``). A tune music21 cannot read gives one
    :class:`UnplayableTuneWarning` naming its file and music21's reason, and only its
    ``.abc``. Each file is written under a temporary name and renamed, so none is ever left
    half-written. Tune files already in ``out_dir`` are refused, or with ``overwrite`` all
    removed first, so no old tune stays among the new (:func:`check_tune_folder`; other files
    are left alone). Returns one :class:`WrittenTune` per tune, in order."""
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or "abc" not in formats:
        raise ValueError(f"write_tunes: formats must include 'abc' and be among {FORMATS}, "
                         f"got {tuple(formats)}")
    music21_module()  # without it, fail before any tune file is removed or written
    for path in check_tune_folder(out_dir, overwrite=overwrite):
        path.unlink()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [_write_tune(abc, path, formats)
            for abc, path in zip(tunes, tune_paths(out, len(tunes)))]


def tune_paths(out_dir: str | Path, count: int) -> list[Path]:
    """The ``.abc`` paths :func:`write_tunes` gives ``count`` tunes in ``out_dir``:
    ``tune_001.abc`` on, numbered with at least three digits."""
    width = max(3, len(str(count)))
    return [Path(out_dir) / f"tune_{index:0{width}d}.abc" for index in range(1, count + 1)]


def summary_line(tunes: Sequence[GeneratedTune], reports: Sequence[WrittenTune],
                 out_dir: str | Path, max_chars: int) -> str:
    """One line on what :func:`write_tunes` wrote: the count, the files, how many parse, fit
    their bars and end on the tonic, and how many never ended within ``max_chars``."""
    count = len(reports)
    first, last = reports[0].files["abc"].stem, reports[-1].files["abc"].stem
    names = first if count == 1 else f"{first} … {last}"
    formats = sorted({name for report in reports for name in report.files},
                     key=FORMATS.index)
    checks = {name: sum(getattr(report.score, name) for report in reports)
              for name in METRICS}
    unended = sum(not tune.ended for tune in tunes)
    return (f"wrote {count} tunes to {Path(out_dir)} ({names}: "
            f"{', '.join('.' + name for name in formats)}): {checks['parses']} of {count} "
            f"parse, {checks['bars_fit']} fit their bars, {checks['ends_on_tonic']} end on the "
            f"tonic; {unended} did not end within {max_chars} characters")


def check_tune_folder(out_dir: str | Path, *, overwrite: bool) -> list[Path]:
    """The tune files (``tune_001.abc``, ``.mid``, ``.musicxml``, …) already in ``out_dir``,
    which a new set of tunes replaces only with ``overwrite``: without it they are refused,
    so no tune is lost silently. A path that is a file is refused."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"generate: --out {out} is a file, not a folder")
    existing = sorted(path for path in out.glob("*") if TUNE_FILE.fullmatch(path.name)) \
        if out.is_dir() else []
    if existing and not overwrite:
        raise ValueError(f"generate: {out} already holds {len(existing)} tune files "
                         f"({existing[0].name}, …); replace them with --overwrite or choose "
                         "another --out")
    return existing


def _write_tune(abc: str, abc_path: Path, formats: Sequence[str]) -> WrittenTune:
    _replace_atomically(abc_path, lambda temporary: temporary.write_text(abc, "utf-8"))
    files = {"abc": abc_path}
    parsed = parse_abc(abc)
    score = score_tune(abc, parsed)
    if parsed.score is None:
        warnings.warn(f"{abc_path}: music21 cannot read this tune ({parsed.reason}); written "
                      "as .abc only", UnplayableTuneWarning, stacklevel=3)
        return WrittenTune(files, score, parsed.reason)
    failures = []
    for name in formats:
        if name == "abc":
            continue
        path = abc_path.with_suffix(f".{name}")
        try:
            with quiet_music21():
                _replace_atomically(path, lambda temporary, name=name: parsed.score.write(
                    MUSIC21_FORMAT[name], fp=str(temporary)))
        except Exception as error:  # noqa: BLE001 - music21's writers fail in many ways
            failures.append(f".{name}: {error_reason(error)}")
            continue
        files[name] = path
    if failures:
        reason = "; ".join(failures)
        warnings.warn(f"{abc_path}: music21 read the tune but could not write it as "
                      f"{reason}", UnplayableTuneWarning, stacklevel=3)
        return WrittenTune(files, score, reason)
    return WrittenTune(files, score)


def _replace_atomically(path: Path, write: Any) -> None:
    """``write(temporary)`` beside ``path``, then rename it to ``path``; on failure nothing
    is left behind."""
    temporary = path.with_name(f".{path.name}.partial")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)

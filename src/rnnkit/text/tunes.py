"""Where a tune in ABC notation begins and ends in a model's sampled text: an ABC model's
sample is one tune, as a word model's is one sentence. The language model's pipeline stops
its generation here, and :func:`rnnkit.tasks.music.generate_tunes` reads whether each tune
ended. No torch and no music21 here: this is text."""

from __future__ import annotations

import re
from dataclasses import dataclass

TUNE_CHARS = 1000
"""New characters sampled per tune by default (a folk tune in ABC is ~200-600)."""
TUNE_START = re.compile(r"^X:", re.MULTILINE)
"""A tune's first line: its ``X:`` (reference number) field."""
TUNE_END = re.compile(r"\n[ \t]*\n|\n(?=X:)")
"""Where a tune ends: a blank line, or the next tune's ``X:`` line (an ABC model's training
stream is the tunes' non-blank lines, so it goes from one tune's last line to the next
``X:``)."""


@dataclass(frozen=True)
class GeneratedTune:
    """One sampled tune: its ABC text (see :func:`cut_tune`) and whether it ended within the
    characters allowed; one that did not is kept as sampled."""

    abc: str
    ended: bool


def cut_tune(text: str) -> GeneratedTune:
    """The tune in a sampled ``text``: from its first line starting ``X:`` (what comes before
    is the prompt's or the model's lead-in, dropped) or, without such a line, from the text's
    start, to the first blank line or ``X:`` line after that start, stripped and ending in one
    line break. A tune that reaches the end of ``text`` without either has not ended."""
    start = TUNE_START.search(text)
    body = text[start.start():] if start else text
    end = TUNE_END.search(body)
    if end is None:
        return GeneratedTune(body.strip() + "\n", False)
    return GeneratedTune(body[: end.start()].strip() + "\n", True)


def may_end_tune(piece: str) -> bool:
    """Whether appending ``piece`` to a sampled text can end its tune: the end (a blank line,
    or a line break before ``X:``) is completed only by a line break or a colon, so the
    samplers re-read a tune (:func:`cut_tune`) only then."""
    return "\n" in piece or ":" in piece

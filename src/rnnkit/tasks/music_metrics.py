"""How much of a list of ABC tunes is music: per tune, whether music21 reads it to notes
(``parses``), whether every bar has the length its meter says (``bars_fit``) and whether the
last note is the key's tonic (``ends_on_tonic``); over a list, the share of tunes passing each.

music21 is an optional dependency (``pip install 'rnnkit[music]'``), imported on first use.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from rnnkit.extras import require

METRICS = ("parses", "bars_fit", "ends_on_tonic")
REASON_CHARS = 120
"""The most characters of music21's error message a reason keeps."""
SECTION_BARLINES = frozenset({"double", "final", "light-light", "light-heavy", "heavy-light",
                              "heavy-heavy"})
"""Barline types that close a section of a tune (besides repeat signs)."""
METER_FIELD = re.compile(r"^M:([^\n%]*)|\[M:([^\]]*)\]", re.MULTILINE)
"""A ``M:`` field: a header line or an inline ``[M:…]``."""
METER_SYMBOLS = {"C": "4/4", "C|": "2/2"}
KEY_FIELD = re.compile(r"^K:([^\n%]*)|\[K:([^\]]*)\]", re.MULTILINE)
"""A ``K:`` field: a line (the header's last field, or a key change between music lines) or
an inline ``[K:…]`` (a key change within a music line)."""
KEY_TONIC = re.compile(r"\s*([A-G])([#b]?)")
"""A key's tonic: its first letter and accidental; the mode that may follow (``m``, ``mix``,
``dor``, …) names the scale, never another tonic (``K:Ador`` is A dorian)."""


def music21_module() -> Any:
    """The ``music21`` package, or a :class:`~rnnkit.extras.MissingExtra` naming the
    ``music`` extra."""
    return require("music21", "music", "reading ABC tunes as music")


@contextlib.contextmanager
def quiet_music21() -> Iterator[None]:
    """music21's own notes on odd input (Python warnings, and lines it writes to stderr
    itself, such as "Could not get pitch information … assuming C") kept from the user, who
    gets one warning per tune from :func:`rnnkit.tasks.music.write_tunes` instead. stderr is
    the process's: while this runs, other threads' stderr lines are dropped too."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def error_reason(error: Exception) -> str:
    """music21's error as one short line: its type and the start of its message (music21's
    ABC errors go on to print the tokens around the fault)."""
    reason = f"{type(error).__name__}: {error}".splitlines()[0]
    return reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 1] + "…"


@dataclass(frozen=True)
class ParsedTune:
    """music21's reading of one ABC tune: the score (None where it failed) and, then, why."""

    score: Any
    reason: str


def parse_abc(abc: str) -> ParsedTune:
    """music21's score of one ABC tune. A tune it cannot read, or reads to no note, gives
    ``score=None`` and music21's reason; it never raises (generated text can break music21's
    parser in many ways, each its own exception type)."""
    if not abc.strip():
        return ParsedTune(None, "the tune is empty")
    music21 = music21_module()
    try:
        with quiet_music21():
            score = music21.converter.parseData(abc, format="abc")
    except Exception as error:  # noqa: BLE001 - any failure of music21's parser is the answer
        return ParsedTune(None, error_reason(error))
    if not _sounding_notes(score):
        return ParsedTune(None, "music21 reads no notes in it")
    return ParsedTune(score, "")


@dataclass(frozen=True)
class TuneScore:
    """The three checks of one tune (an unparseable tune fails all three)."""

    parses: bool
    bars_fit: bool
    ends_on_tonic: bool


def score_tune(abc: str, parsed: ParsedTune | None = None) -> TuneScore:
    """:class:`TuneScore` of one ABC tune (``parsed``: its :func:`parse_abc`, if at hand)."""
    parsed = parse_abc(abc) if parsed is None else parsed
    if parsed.score is None:
        return TuneScore(False, False, False)
    return TuneScore(True, bars_fit(parsed.score, abc), ends_on_tonic(parsed.score, abc))


def music_shares(tunes: Sequence[str]) -> dict[str, float]:
    """The share of ``tunes`` (ABC texts) passing each check, and ``tunes``, their count."""
    if not tunes:
        raise ValueError("music_shares: expected at least one tune, got none")
    scores = [asdict(score_tune(abc)) for abc in tunes]
    shares = {name: sum(score[name] for score in scores) / len(scores) for name in METRICS}
    return {**shares, "tunes": float(len(scores))}


def _sounding_notes(score: Any) -> list[Any]:
    """Notes and chords with a duration, in score order (grace notes and chord symbols, which
    music21 gives no duration, left out)."""
    return [note for note in score.flatten().notes if note.duration.quarterLength > 0]


def ends_on_tonic(score: Any, abc: str) -> bool:
    """Whether the last sounding note's pitch class (a chord's lowest) is the tonic of the
    key in force at the end: the tune's last ``K:`` field by position (its header's, a key
    change between music lines, or an inline ``[K:…]``). A key without a tonic (``K:none``,
    ``K:HP``, no ``K:``) fails: there is no tonic to end on."""
    music21 = music21_module()
    keys = ["".join(groups) for groups in KEY_FIELD.findall(abc)]
    match = KEY_TONIC.match(keys[-1]) if keys else None
    if match is None:
        return False
    letter, accidental = match.groups()
    tonic = music21.pitch.Pitch(letter + accidental.replace("b", "-"))
    last = _sounding_notes(score)[-1]
    lowest = min(last.pitches, key=lambda pitch: pitch.ps)
    return lowest.pitchClass == tonic.pitchClass


def bars_fit(score: Any, abc: str) -> bool:
    """Whether every bar of every part of ``score`` (music21's reading of ``abc``) has the
    length the tune's meter (its ``M:`` fields) says.

    Folk transcriptions write short bars at the edges of sections, so the rules are:

    - A section runs from the tune's start, a start-repeat ``|:``, or the bar after an
      end-repeat ``:|`` or a double/final barline (``||``, ``|]``), to the next such close.
    - Bars inside a section are full; no bar is longer than full.
    - A short first bar of a section is an anacrusis. A short last bar must be completed to one
      full bar by a short bar across an edge: its section's anacrusis (the repeat goes back
      there), the next section's first bar (its pickup is written after the barline), or, for
      the tune's last bar, the tune's first bar.
    - Voltas (``|1 … :|2 …``): a second or later ending continues the section the first
      ending closed, so it too must complete that section's anacrusis.
    - Free meter (``M:none``, or no ``M:`` field) fails, as does a tune of fewer than two
      bars: there is no bar length to fit, and a generator could otherwise escape the check
      by writing ``M:none``.
    - A bar's length is measured against the last ``M:`` meter met, never against a time
      signature music21 made up: it splits an overlong bar into a full one and a rest with
      a meter of its own (``abcFormat.translate.reBar``), which fails here as a short bar.
    """
    meters = _declared_meters(abc)
    if not meters:
        return False
    parts = list(score.parts) or [score]
    return all(_part_bars_fit(part, meters) for part in parts)


def _declared_meters(abc: str) -> set[str]:
    """The meters of ``abc``'s ``M:`` fields as ratios (``"6/8"``; ``C`` is ``"4/4"``),
    free meter (``none``) left out."""
    fields = (" ".join(groups).strip() for groups in METER_FIELD.findall(abc))
    meters = {METER_SYMBOLS.get(field, field.replace(" ", "")) for field in fields}
    return {meter for meter in meters if meter and meter.lower() != "none"}


def _bar_lengths(measures: list[Any], meters: set[str]) -> list[Fraction] | None:
    """Each measure's full length under the last declared meter; None before there is one."""
    full, lengths = None, []
    for measure in measures:
        signature = measure.timeSignature
        if signature is not None and signature.ratioString in meters:
            full = Fraction(signature.barDuration.quarterLength)
        if full is None:
            return None
        lengths.append(full)
    return lengths


def _part_bars_fit(part: Any, meters: set[str]) -> bool:
    measures = list(part.getElementsByClass("Measure"))
    fulls = _bar_lengths(measures, meters)
    if fulls is None or len(measures) < 2:
        return False
    volta_starts = _later_volta_starts(part)
    lengths = [Fraction(measure.duration.quarterLength) for measure in measures]
    tune_pickup = lengths[0] if lengths[0] < fulls[0] else Fraction(0)
    anacrusis = pending = Fraction(0)  # this section's pickup; a close awaiting the next pickup
    for index, (measure, length, full) in enumerate(zip(measures, lengths, fulls)):
        last = index == len(measures) - 1
        starts = _opens_section(measures, index) and id(measure) not in volta_starts
        closes = last or _closes_section(measures, index)
        if length > full or (pending and not starts):
            return False
        if starts:
            if pending and length + pending != full:
                return False
            anacrusis, pending = (length if length < full else Fraction(0)), Fraction(0)
            if length < full and not closes:
                continue
        if length == full:
            continue
        if not closes:
            return False
        if anacrusis and length + anacrusis == full:
            continue
        if last:
            return bool(tune_pickup) and length + tune_pickup == full
        pending = length
    return True


def _opens_section(measures: list[Any], index: int) -> bool:
    if index == 0 or _is_repeat(measures[index].leftBarline, "start"):
        return True
    return _closes_section(measures, index - 1)


def _closes_section(measures: list[Any], index: int) -> bool:
    barline = measures[index].rightBarline
    if barline is None:
        return False
    return _is_repeat(barline, "end") or barline.type in SECTION_BARLINES


def _is_repeat(barline: Any, direction: str) -> bool:
    return barline is not None and getattr(barline, "direction", None) == direction


def _later_volta_starts(part: Any) -> set[int]:
    """``id`` of each measure that opens a second or later ending (``|2``)."""
    starts = set()
    for bracket in part.recurse().getElementsByClass("RepeatBracket"):
        spanned = bracket.getSpannedElements()
        if spanned and bracket.numberRange and min(bracket.numberRange) > 1:
            starts.add(id(spanned[0]))
    return starts

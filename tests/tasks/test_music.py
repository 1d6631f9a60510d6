"""Tunes out of an ABC language model: the "is it music" checks on hand-written tunes, cutting
sampled text into tunes, writing .abc/.mid/.musicxml, and a model that overfits two tunes."""

import runpy
import warnings
from pathlib import Path

import pytest

from rnnkit.tasks import language_modeling as lm
from rnnkit.tasks.lm_pipeline import LanguageModelPipeline
from rnnkit.tasks.music import (
    UnplayableTuneWarning,
    generate_tunes,
    write_tunes,
)
from rnnkit.tasks.music_metrics import TuneScore, music_shares, parse_abc, score_tune
from rnnkit.text import Vocab, get_tokenizer
from rnnkit.train import TrainConfig

music21 = pytest.importorskip("music21", reason="the music checks need music21 (rnnkit[music])")

JIG = """X:1
T:A jig with a pickup, two parts, repeats and two endings
M:6/8
L:1/8
K:D
A|dfa afd|gbg faf|edc BAG|FAF D2:|
|:A|dcd efg|agf e2d|cde gfe|1 d3 d2:|2 d3 D2|]
"""


def test_a_correct_jig_passes_all_three():
    assert score_tune(JIG) == TuneScore(parses=True, bars_fit=True, ends_on_tonic=True)


def test_one_bar_too_long_does_not_fit():
    assert score_tune(JIG.replace("gbg faf|", "gbg faff|")) == TuneScore(True, False, True)


def test_a_bar_short_inside_a_section_does_not_fit():
    assert not score_tune(JIG.replace("gbg faf|", "gbg fa|")).bars_fit


def test_a_last_bar_that_does_not_complete_the_pickup_does_not_fit():
    assert not score_tune(JIG.replace("|2 d3 D2|]", "|2 d3 D|]")).bars_fit


def test_a_pickup_completed_by_the_next_section_fits():
    tune = "X:1\nM:6/8\nL:1/8\nK:D\ndfa afd|gbg fa||A|dcd efg|a3 d3|]\n"
    assert score_tune(tune).bars_fit


def test_each_ending_completes_the_pickup_of_the_section_it_closes():
    tune = "X:1\nM:6/8\nL:1/8\nK:D\ndfa afd|gbg faf:|\n|:A|dcd efg|1 d3 d2:|2 d3 D2|]\n"
    assert score_tune(tune).bars_fit
    assert not score_tune(tune.replace("|2 d3 D2|]", "|2 d3 D|]")).bars_fit
    assert score_tune(tune.replace("|2 d3", "|2,3 d3")).bars_fit


def test_free_meter_has_no_bar_length_to_fit():
    tune = JIG.replace("M:6/8", "M:none")
    assert score_tune(tune) == TuneScore(True, False, True)


def test_ending_on_the_dominant_is_not_ending_on_the_tonic():
    assert score_tune(JIG.replace("|2 d3 D2|]", "|2 d3 A2|]")) == TuneScore(True, True, False)


@pytest.mark.parametrize("key, last, on_tonic", [
    ("Ador", "A", True), ("Ador", "D", False), ("Dmix", "D", True), ("Em", "E", True),
    ("F#m", "=F", False), ("F#m", "F", True), ("Bb", "B", True), ("Bb", "=B", False),
    ("none", "C", False), ("HP", "A", False),
])
def test_the_tonic_is_the_key_field_s_note_whatever_the_mode(key, last, on_tonic):
    tune = f"X:1\nM:3/4\nL:1/8\nK:{key}\nA2 B2 c2|d2 e2 {last}2|]\n"
    assert score_tune(tune).ends_on_tonic is on_tonic


def test_a_key_change_between_music_lines_moves_the_tonic():
    tune = "X:1\nM:3/4\nL:1/8\nK:G\nG2 B2 d2|g4 d2|\nK:Em\nB2 G2 F2|E6|]\n"
    assert score_tune(tune).ends_on_tonic
    assert not score_tune(tune.replace("K:Em", "K:D")).ends_on_tonic


def test_an_inline_key_change_moves_the_tonic_too():
    tune = "X:1\nM:4/4\nL:1/8\nK:G\nGABc dedB|dBGB AGEF|[K:D]d8|d8|]"
    assert score_tune(tune).ends_on_tonic
    assert not score_tune(tune.replace("[K:D]", "")).ends_on_tonic
    assert score_tune(tune.replace("d8|]", "d8|\nK:D\n[K:G]g8|]")).ends_on_tonic


@pytest.mark.parametrize("garbage", ["", "   \n", "hello world, this is no tune",
                                     "X:1\nK:D\n|||: :|||\n"])
def test_garbage_fails_all_three_with_a_reason(garbage):
    assert score_tune(garbage) == TuneScore(False, False, False)
    assert parse_abc(garbage).reason


def test_the_reason_is_one_short_line():
    reason = parse_abc(")(*&^%$#@!\n" * 3).reason
    assert reason.startswith("ABCHandlerException: no active default note length")
    assert "\n" not in reason and len(reason) == 120 and reason.endswith("…")


def test_music_shares_count_each_check_over_the_tunes():
    shares = music_shares([JIG, JIG.replace("gbg faf|", "gbg faff|"), "garbage"])
    assert shares == pytest.approx({"parses": 2 / 3, "bars_fit": 1 / 3,
                                    "ends_on_tonic": 2 / 3, "tunes": 3})
    with pytest.raises(ValueError, match="at least one tune"):
        music_shares([])


def test_write_tunes_writes_files_music21_reads_back(tmp_path):
    (report,) = write_tunes([JIG], tmp_path)
    assert set(report.files) == {"abc", "mid", "musicxml"} and report.problem == ""
    assert report.files["abc"] == tmp_path / "tune_001.abc"
    assert report.files["abc"].read_text("utf-8") == JIG
    for name, reader_format in (("mid", "midi"), ("musicxml", "musicxml")):
        score = music21.converter.parse(str(report.files[name]), format=reader_format)
        assert score.flatten().notes[-1].pitch.name == "D"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "tune_001.abc", "tune_001.mid", "tune_001.musicxml"]


def test_a_tune_music21_cannot_read_warns_once_and_is_kept_as_abc(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reports = write_tunes([JIG, "hello world, this is no tune", JIG], tmp_path)
    assert [type(w.message) for w in caught] == [UnplayableTuneWarning]
    message = str(caught[0].message)
    assert str(tmp_path / "tune_002.abc") in message and "ABCHandlerException" in message
    assert [set(report.files) for report in reports] == [
        {"abc", "mid", "musicxml"}, {"abc"}, {"abc", "mid", "musicxml"}]
    assert not reports[1].score.parses and reports[1].problem
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == ["tune_001.abc", "tune_001.mid", "tune_001.musicxml", "tune_002.abc",
                     "tune_003.abc", "tune_003.mid", "tune_003.musicxml"]


def test_a_tune_one_writer_fails_on_keeps_the_other_formats(tmp_path, monkeypatch):
    def refuse_midi(self, fmt=None, fp=None, **keywords):
        if fmt == "midi":
            raise RuntimeError("badly formed repeats")
        return write(self, fmt, fp=fp, **keywords)

    write = music21.stream.Score.write
    monkeypatch.setattr(music21.stream.Score, "write", refuse_midi)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (report,) = write_tunes([JIG], tmp_path)
    assert [type(w.message) for w in caught] == [UnplayableTuneWarning]
    assert ".mid: RuntimeError: badly formed repeats" in str(caught[0].message)
    assert set(report.files) == {"abc", "musicxml"} and "badly formed" in report.problem
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "tune_001.abc", "tune_001.musicxml"]


def test_write_tunes_replaces_old_tunes_only_when_told(tmp_path):
    write_tunes([JIG, JIG, JIG], tmp_path, formats=("abc",))
    (tmp_path / "notes.txt").write_text("mine", "utf-8")
    with pytest.raises(ValueError, match=r"already holds 3 tune files \(tune_001.abc, …\)"):
        write_tunes([JIG], tmp_path, formats=("abc",))
    write_tunes([JIG], tmp_path, formats=("abc",), overwrite=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt", "tune_001.abc"]


def test_write_tunes_names_a_format_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match=r"formats must include 'abc'.*got \('mid', 'wav'\)"):
        write_tunes([JIG], tmp_path, formats=("mid", "wav"))


TWO_TUNES = ["X:1\nM:6/8\nK:D\nA|dfa afd|gbg faf|edc BAG|FAF D2:|\n",
             "X:1\nM:3/4\nK:G\nG2 B2 d2|c2 A2 F2|G6|]\n"]


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    """A tiny character LSTM that learned two short tunes by heart (the tunes one after the
    other, as a plain text file; the same model an ABC corpus trains)."""
    root = tmp_path_factory.mktemp("music")
    corpus = root / "tunes.txt"
    corpus.write_text("\n".join(TWO_TUNES * 400), "utf-8")
    lm.LANGUAGE_MODELING.train(
        lm.LMData(corpus=str(corpus), level="char", batch_size=8, bptt=32, eval_batch_size=4),
        {"embed_size": 16, "hidden_size": 32, "num_layers": 1},
        TrainConfig(epochs=1, max_steps=120, optimizer="adam", lr=0.02), root / "model",
        quiet=True)
    return lm.LANGUAGE_MODELING.load(root / "model")


def test_a_model_that_overfits_two_tunes_generates_them_as_playable_files(overfit, tmp_path):
    tunes = generate_tunes(overfit, 4, seed=0, temperature=0.5, max_chars=200)
    assert all(tune.ended for tune in tunes)
    assert all(tune.abc in TWO_TUNES for tune in tunes), [tune.abc for tune in tunes]
    reports = write_tunes([tune.abc for tune in tunes], tmp_path)
    assert all(report.score == TuneScore(True, True, True) for report in reports)
    assert all(set(report.files) == {"abc", "mid", "musicxml"} for report in reports)


def test_generated_tunes_are_seeded_and_one_that_runs_on_is_kept_unended(overfit):
    first = generate_tunes(overfit, 3, seed=7, temperature=1.0, max_chars=200)
    assert generate_tunes(overfit, 3, seed=7, temperature=1.0, max_chars=200) == first
    (short,) = generate_tunes(overfit, 1, seed=0, temperature=0.5, max_chars=20)
    assert not short.ended and short.abc.startswith("X:1\n")


@pytest.mark.parametrize("data, message", [
    ({"level": "word"}, "character-level model trained in stream mode, got level='word'"),
    ({"level": "char", "mode": "sentences"}, "got mode='sentences'"),
])
def test_generate_tunes_needs_a_character_model_trained_in_stream_mode(data, message):
    vocab = Vocab.build([list("abc")])
    model = LanguageModelPipeline(Path("model"), {"data": data}, object(), vocab,
                                  get_tokenizer("char"))
    with pytest.raises(ValueError, match=message):
        generate_tunes(model, 1, seed=0)


def test_the_music_benchmark_scores_generated_held_out_and_untrained_tunes(overfit, tmp_path,
                                                                          capsys):
    script = runpy.run_path(str(Path(__file__).resolve().parents[2] / "benchmarks"
                                / "eval_music.py"))
    held_out = tmp_path / "valid.abc"
    held_out.write_text("\n".join(TWO_TUNES), "utf-8")
    out = tmp_path / "music.md"
    assert script["main"]([str(overfit.directory), "-n", "3", "--temperature", "0.5",
                           "--max-chars", "200", "--held-out", str(held_out),
                           "--out", str(out)]) == 0
    rows = [line for line in out.read_text("utf-8").splitlines() if line.startswith("| ")]
    assert rows[1] == "| generated | 3 | 1.00 | 1.00 | 1.00 | 0 |"
    assert rows[2] == "| held out (ceiling) | 2 | 1.00 | 1.00 | 1.00 | — |"
    assert rows[3].startswith("| untrained (floor) | 3 | ")
    assert capsys.readouterr().out.startswith(rows[0])

"""Reading ABC tunes: one tune per example, headers kept or stripped, the quirks of real files
(comments, directives, free text, continuations, CRLF, Latin-1), folders and errors."""

import json
import sys

import pytest

from rnnkit.data import abc
from rnnkit.extras import MissingExtra

FILE = """\
% A collection of two tunes and a broken one
%%abc-charset utf-8
Some free text about the book, not a tune.

X: 7
T:The First Reel
C:Trad.
O:Ireland
N:from a manuscript % with a comment
R:reel
M:4/4
L:1/8
Q:1/4=120
K:G
|:GABc dedB|dedB dedB|\\
c2ec B2dB|c2A2 A2BA:|
%%vskip 10
|:g2gf gdBd|g2f2 e2d2|]

free text between the tunes

X:8
T:A Jig
W:a verse of lyrics
M:6/8
L:1/8
K:D
P:A
fed cBA|d3 d3|
T:Second part
w:la la la
P:B
ABc def|g3 g3|]

X:9
T:No key, so no header end
M:3/4
L:1/8
ABC DEF|
"""


def test_tunes_keep_their_headers_and_lose_comments_and_free_text():
    tunes = abc.split_tunes(FILE, headers="keep")
    assert tunes == [
        ("X:7\nT:The First Reel\nC:Trad.\nO:Ireland\nN:from a manuscript\nR:reel\nM:4/4\n"
        "L:1/8\nQ:1/4=120\nK:G\n|:GABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA:|\n"
        "|:g2gf gdBd|g2f2 e2d2|]"),
        ("X:8\nT:A Jig\nW:a verse of lyrics\nM:6/8\nL:1/8\nK:D\nP:A\nfed cBA|d3 d3|\n"
        "T:Second part\nw:la la la\nP:B\nABc def|g3 g3|]"),
    ]


def test_stripped_tunes_keep_what_a_player_needs():
    tunes = abc.split_tunes(FILE, headers="strip")
    assert tunes == [
        ("X:7\nM:4/4\nL:1/8\nQ:1/4=120\nK:G\n|:GABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA:|\n"
        "|:g2gf gdBd|g2f2 e2d2|]"),
        "X:8\nM:6/8\nL:1/8\nK:D\nP:A\nfed cBA|d3 d3|\nP:B\nABc def|g3 g3|]",
    ]


def test_crlf_and_a_tune_that_runs_into_the_next_x_line():
    text = "X:1\r\nM:2/4\r\nK:C\r\nCDEF|\r\nX:2\r\nK:A\r\nAB|]\r\n"
    assert abc.split_tunes(text) == ["X:1\nM:2/4\nK:C\nCDEF|", "X:2\nK:A\nAB|]"]


def test_a_blank_line_ends_a_tune_and_a_tune_without_music_is_skipped():
    text = "X:1\nT:Only a header\nK:C\n\nX:2\nK:C\nC4|\n\nE4|\n"
    assert abc.split_tunes(text) == ["X:2\nK:C\nC4|"]


def test_escaped_percent_is_text_not_a_comment():
    tune = abc.split_tunes("X:1\nT:50\\% off\nK:C\nC|\n")[0]
    assert tune.splitlines()[1] == "T:50\\% off"


def test_headers_must_be_keep_or_strip():
    with pytest.raises(ValueError, match="headers must be one of keep, strip, got 'some'"):
        abc.split_tunes(FILE, headers="some")


def test_a_folder_reads_its_abc_files_in_path_order_latin1_included(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.ABC").write_bytes("X:1\nT:Caf\xe9\nK:D\nd|\n".encode("latin-1"))
    (tmp_path / "a.abc").write_text("\ufeffX:1\nK:C\nc|\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("X:1\nK:E\ne|\n", encoding="utf-8")
    assert abc.read_abc(tmp_path) == ["X:1\nK:C\nc|", "X:1\nT:Café\nK:D\nd|"]
    assert abc.read_abc(tmp_path, headers="strip")[1] == "X:1\nK:D\nd|"


def test_a_folder_skips_model_directories_and_claimed_runs(tmp_path):
    (tmp_path / "tunes.abc").write_text("X:1\nK:C\nc|\n", encoding="utf-8")
    for name, config in (("model", {"format": "rnnkit.model"}), ("other", {"format": "x"})):
        (tmp_path / name / "corpus").mkdir(parents=True)
        (tmp_path / name / "config.json").write_text(json.dumps(config), encoding="utf-8")
        (tmp_path / name / "corpus" / "train.abc").write_text(f"X:1\nT:{name}\nK:D\nd|\n")
    (tmp_path / "running" / "corpus").mkdir(parents=True)
    (tmp_path / "running" / ".rnnkit.lock").write_text("123\n")
    (tmp_path / "running" / "corpus" / "train.abc").write_text("X:1\nK:E\ne|\n")
    assert abc.abc_files(tmp_path) == [tmp_path / "other" / "corpus" / "train.abc",
                                       tmp_path / "tunes.abc"]
    assert abc.abc_files(tmp_path / "model") == [tmp_path / "model" / "corpus" / "train.abc"]


def test_run_directories_are_known_by_the_names_training_writes():
    from rnnkit.train import directory, run_directory

    assert (abc.MODEL_CONFIG_FILE, abc.MODEL_FORMAT, abc.RUN_LOCK_FILE) == (
        directory.CONFIG_FILE, directory.FORMAT, run_directory.LOCK_FILE)


def test_reading_errors_name_the_argument_and_the_path(tmp_path):
    with pytest.raises(ValueError, match=r"--data '.*missing.abc': no such file or folder"):
        abc.read_abc(tmp_path / "missing.abc", argument="--data")
    with pytest.raises(ValueError, match=r"--data '.*': the folder holds no .abc files"):
        abc.read_abc(tmp_path, argument="--data")
    empty = tmp_path / "empty.abc"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"--data '.*empty.abc' holds no ABC tune"):
        abc.read_abc(empty, argument="--data")
    prose = tmp_path / "prose.abc"
    prose.write_text("This is prose.\nNo tune here.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"path '.*prose.abc' holds no ABC tune"):
        abc.read_abc(prose)


def test_written_tunes_are_renumbered_and_read_back(tmp_path):
    tunes = abc.split_tunes(FILE, headers="strip")
    path = abc.write_abc_file(tunes, tmp_path / "tunes.abc")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("X:1\nM:4/4") and "|]\n\nX:2\nM:6/8" in text
    assert abc.read_abc(path) == [tune.replace("X:7", "X:1").replace("X:8", "X:2")
                                  for tune in tunes]
    with pytest.raises(ValueError, match="must start with its X: line, got 'K:C'"):
        abc.write_abc_file(["K:C\nC|"], tmp_path / "bad.abc")


def test_the_bundled_folk_corpus_holds_thousands_of_tunes():
    pytest.importorskip("music21", reason="the bundled tunes come with music21: "
                                          "pip install 'rnnkit[music]'")
    tunes = abc.bundled_folk_tunes(headers="strip")
    assert len(tunes) > 4000
    assert all(tune.startswith("X:") and "\nK:" in tune for tune in tunes)
    assert not any(line.startswith(("T:", "%")) for tune in tunes[:200]
                   for line in tune.splitlines())


def test_an_unknown_collection_is_named(monkeypatch):
    pytest.importorskip("music21", reason="needs music21's corpus folder")
    with pytest.raises(ValueError, match="no collection 'jazzStandards'"):
        abc.bundled_folk_tunes(collections=("jazzStandards",))


def test_without_music21_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(MissingExtra, match=r"^reading the bundled folk tunes needs music21, "
                                           r"which is not installed: "
                                           r"pip install 'rnnkit\[music\]'$"):
        abc.bundled_folk_tunes()


def test_music21_reads_meter_key_and_notes_from_a_stripped_tune():
    converter = pytest.importorskip("music21.converter",
                                    reason="music21 is the music extra: pip install "
                                           "'rnnkit[music]'")
    score = converter.parse(abc.split_tunes(FILE, headers="strip")[0], format="abc")
    assert score.recurse().getElementsByClass("TimeSignature")[0].ratioString == "4/4"
    assert score.recurse().getElementsByClass("KeySignature")[0].sharps == 1  # G major
    notes = list(score.recurse().notes)
    assert len(notes) == 38 and notes[0].nameWithOctave == "G4"
    assert notes[0].quarterLength == 0.5  # L:1/8 kept: an eighth note


HEADED_FILE = """\
%abc-2.1
%%pagewidth 21cm
L:1/8
C:Trad.
N:first line of a note
+:and its continuation
K:D
T:fields a file header may not hold are not given

A page of notes about the book: free text, dropped.
Z:a field in free text sets nothing

X:1
T:Two-four, no L: of its own
M:2/4
K:G
GABc|d2d2|]

X:2
M:2/4
L:1/16
C:A. Composer
K:G
GABc|d2d2|]

N:a block of fields between tunes is free text too

X:3
M:2/4
GABc|]
"""


def test_the_file_header_gives_each_tune_the_fields_it_lacks():
    assert abc.split_tunes(HEADED_FILE, headers="keep") == [
        ("X:1\nT:Two-four, no L: of its own\nM:2/4\nL:1/8\nC:Trad.\nN:first line of a note\n"
         "+:and its continuation\nK:G\nGABc|d2d2|]"),
        ("X:2\nM:2/4\nL:1/16\nC:A. Composer\nN:first line of a note\n+:and its continuation\n"
         "K:G\nGABc|d2d2|]"),
    ]  # a header K: neither doubles tune 1's nor completes tune 3
    assert abc.split_tunes(HEADED_FILE, headers="strip") == [
        "X:1\nM:2/4\nL:1/8\nK:G\nGABc|d2d2|]", "X:2\nM:2/4\nL:1/16\nK:G\nGABc|d2d2|]"]


def test_free_text_first_is_no_file_header():
    title_page = "Tunes for the test\nprinted today\n\nL:1/8\n\nX:1\nM:2/4\nK:G\nGA|]\n"
    assert abc.split_tunes(title_page) == ["X:1\nM:2/4\nK:G\nGA|]"]
    assert abc.split_tunes("\n\nL:1/8\nX:1\nM:2/4\nK:G\nGA|]\n") == [
        "X:1\nM:2/4\nL:1/8\nK:G\nGA|]"]  # leading blank lines; an X: line ends the header


def test_music21_reads_the_file_headers_unit_length_into_each_tune():
    converter = pytest.importorskip("music21.converter",
                                    reason="music21 is the music extra: pip install "
                                           "'rnnkit[music]'")
    lengths = [[note.quarterLength for note in converter.parse(tune, format="abc")
                .recurse().notes] for tune in abc.split_tunes(HEADED_FILE, headers="strip")]
    assert lengths == [[0.5] * 4 + [1.0] * 2,  # L:1/8 from the file header
                       [0.25] * 4 + [0.5] * 2]  # the tune's own L:1/16 wins

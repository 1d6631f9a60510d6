"""``rnnkit generate --format abc``, end to end: a character model that learned two tunes
writes them as .abc, .mid and .musicxml files and sums them up in one line."""

import subprocess
import sys

import pytest

from rnnkit.cli import main
from rnnkit.tasks.music_metrics import parse_abc

pytest.importorskip("music21", reason="tune files need music21 (rnnkit[music])")

TWO_TUNES = ["X:1\nM:6/8\nK:D\nA|dfa afd|gbg faf|edc BAG|FAF D2:|\n",
             "X:1\nM:3/4\nK:G\nG2 B2 d2|c2 A2 F2|G6|]\n"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A character LSTM trained on a plain file of two tunes (what ABC training makes)."""
    root = tmp_path_factory.mktemp("cli_music")
    corpus = root / "tunes.txt"
    corpus.write_text("\n".join(TWO_TUNES * 400), "utf-8")
    assert main(["train", "lm", "--data", str(corpus), "--out", str(root / "model"),
                 "--level", "char", "--embed", "16", "--hidden", "32", "--layers", "1",
                 "--epochs", "1", "--max-steps", "120", "--batch-size", "8", "--bptt", "32",
                 "--optimizer", "adam", "--lr", "0.02", "--quiet"]) == 0
    return root / "model"


def _generate(model, out, *options):
    return main(["generate", str(model), "--format", "abc", "--out", str(out), "--seed", "0",
                 "--temperature", "0.5", "--max-tokens", "200", *options])


def test_generate_writes_tune_files_and_a_summary_line(model, tmp_path, capsys):
    out = tmp_path / "tunes"
    assert _generate(model, out, "-n", "3") == 0
    printed = capsys.readouterr().out
    assert printed == (f"wrote 3 tunes to {out} (tune_001 … tune_003: .abc, .mid, .musicxml): "
                       "3 of 3 parse, 3 fit their bars, 3 end on the tonic; 0 did not end "
                       "within 200 characters\n")
    assert sorted(path.name for path in out.iterdir()) == [
        f"tune_00{i}.{ext}" for i in (1, 2, 3) for ext in ("abc", "mid", "musicxml")]
    assert all((out / f"tune_00{i}.abc").read_text("utf-8") in TWO_TUNES for i in (1, 2, 3))


def test_tune_files_are_never_overwritten_silently(model, tmp_path, capsys):
    out = tmp_path / "tunes"
    assert _generate(model, out, "-n", "3") == 0
    (out / "notes.txt").write_text("mine", "utf-8")
    assert _generate(model, out, "-n", "2") == 1
    assert "already holds 9 tune files (tune_001.abc, …); replace them with --overwrite" in \
        capsys.readouterr().err
    assert _generate(model, out, "-n", "2", "--overwrite") == 0
    assert sorted(path.name for path in out.iterdir()) == [
        "notes.txt", *(f"tune_00{i}.{ext}" for i in (1, 2) for ext in ("abc", "mid", "musicxml"))]


def test_each_tune_music21_cannot_read_warns_once(model, tmp_path):
    """In a process of its own, so the warnings reach stderr as a user sees them."""
    out = tmp_path / "tunes"
    result = subprocess.run(
        [sys.executable, "-m", "rnnkit", "generate", str(model), "--format", "abc", "--out",
         str(out), "-n", "2", "--seed", "0", "--max-tokens", "6"],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"rnnkit: warning: {out / f'tune_00{i}.abc'}: music21 cannot read this tune "
        f"({reason}); written as .abc only"
        for i, reason in zip((1, 2), _reasons(out))]
    assert "0 of 2 parse" in result.stdout
    assert "2 did not end within 6 characters" in result.stdout
    assert sorted(path.name for path in out.iterdir()) == ["tune_001.abc", "tune_002.abc"]


def _reasons(out):
    return [parse_abc((out / f"tune_00{i}.abc").read_text("utf-8")).reason for i in (1, 2)]


def test_without_format_abc_a_text_model_prints_text_as_before(model, tmp_path, capsys):
    assert main(["generate", str(model), "--prompt", "X:", "--max-tokens", "30",
                 "--seed", "0"]) == 0
    assert capsys.readouterr().out.startswith("X:")
    assert main(["generate", str(model), "--out", str(tmp_path / "tunes")]) == 1
    assert "--out and --overwrite write tune files: they apply to --format abc" in \
        capsys.readouterr().err
    assert not (tmp_path / "tunes").exists()


@pytest.mark.parametrize("options, message", [
    ([], "--out is required"),
    (["--out", "{tmp}/t", "--max-tokens", "0"], "max_tokens must be an int from 1"),
    (["--out", "{tmp}/t", "--greedy"], "--greedy would write the same tune -n times"),
    (["--out", "{tmp}/file.txt"], "is a file, not a folder"),
])
def test_bad_tune_options_are_one_line_errors(model, tmp_path, capsys, options, message):
    (tmp_path / "file.txt").write_text("x", "utf-8")
    argv = ["generate", str(model), "--format", "abc",
            *(option.format(tmp=tmp_path) for option in options)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("rnnkit: error:") and message in err


@pytest.mark.filterwarnings("ignore::rnnkit.tasks.music.UnplayableTuneWarning")  # one epoch
def test_an_abc_model_writes_tunes_without_being_told_the_format(tmp_path, capsys):
    tunes = tmp_path / "tunes.abc"
    tunes.write_text("\n\n".join(f"X:{i}\nM:6/8\nL:1/8\nK:D\nd{'fa' * i} afd|d3 d3|]"
                                 for i in range(1, 7)), "utf-8")
    assert main(["train", "lm", "--format", "abc", "--data", str(tunes), "--out",
                 str(tmp_path / "model"), "--embed", "8", "--hidden", "8", "--epochs", "1",
                 "--batch-size", "2", "--bptt", "8", "--eval-batch-size", "1", "--quiet"]) == 0
    out = tmp_path / "out"
    assert main(["generate", str(tmp_path / "model"), "-n", "2", "--out", str(out),
                 "--max-tokens", "50", "--seed", "0"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote 2 tunes to {out} (tune_001 … tune_002: ")
    assert {"tune_001.abc", "tune_002.abc"} <= {path.name for path in out.iterdir()}

"""``benchmarks/eval_music.py`` on an ONNX export of an ABC model: the export keeps no
held-out split, so without ``--held-out`` the script says so (before sampling anything), and
with it the script scores the export."""

import runpy
from pathlib import Path

import pytest

from rnnkit.cli import main

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "eval_music.py"
TUNES = "".join(f"X:{n}\nM:2/4\nL:1/8\nK:D\n{'AB' * n}|]\n\n" for n in range(1, 7))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("music21", reason="the script's metrics need the music extra")
    pytest.importorskip("onnxruntime", reason="an export runs on onnxruntime")
    from rnnkit.export import to_onnx

    root = tmp_path_factory.mktemp("eval_music")
    (root / "tunes.abc").write_text(TUNES, encoding="utf-8")
    assert main(["train", "lm", "--format", "abc", "--data", str(root / "tunes.abc"),
                 "--out", str(root / "model"), "--valid-fraction", "0.34", "--epochs", "1",
                 "--embed", "4", "--hidden", "8", "--layers", "1", "--batch-size", "2",
                 "--bptt", "8", "--eval-batch-size", "1", "--quiet"]) == 0
    to_onnx(root / "model", root / "export")
    return root


def test_an_export_without_held_out_says_to_pass_one(exported):
    out = exported / "no.md"
    with pytest.raises(ValueError, match=r"^DIR .*export has no held-out split \(.*export/"
                                         r"corpus/valid.abc is missing, as in an ONNX "
                                         r"export\); pass --held-out FILE$"):
        runpy.run_path(str(SCRIPT))["main"]([str(exported / "export"), "--out", str(out)])
    assert not out.exists()


def test_an_export_with_held_out_tunes_is_scored(exported):
    out = exported / "music.md"
    assert runpy.run_path(str(SCRIPT))["main"]([
        str(exported / "export"), "-n", "2", "--max-chars", "30", "--held-out",
        str(exported / "model" / "corpus" / "valid.abc"), "--out", str(out)]) == 0
    rows = [line for line in out.read_text("utf-8").splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[:2] for row in rows[1:]] == [
        ["| generated", "2"], ["| held out (ceiling)", "2"], ["| untrained (floor)", "2"]]

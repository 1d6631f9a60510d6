"""Every command that needs an optional extra, run without its package, prints one line
naming what needed it, the package and ``pip install 'rnnkit[EXTRA]'``, and exits 1;
``--debug`` shows the traceback. An ImportError that is not a missing extra is a bug: it
keeps its traceback."""

import sys

import pytest

from rnnkit.cli import main
from rnnkit.extras import MissingExtra


def _line(purpose: str, package: str, extra: str) -> str:
    return (f"rnnkit: error: {purpose} needs {package}, which is not installed: "
            f"pip install 'rnnkit[{extra}]'")


def _fails_in_one_line(argv, capsys, expected: str) -> None:
    assert main([str(arg) for arg in argv]) == 1
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("rnnkit: error")] == [expected]
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def exported(tiny_models, tmp_path_factory):
    """The tiny classifier exported to ONNX."""
    pytest.importorskip("onnx")
    from rnnkit.export import to_onnx

    out = tmp_path_factory.mktemp("missing_extras") / "classify_onnx"
    to_onnx(tiny_models["classify"], out)
    return out


def test_export_without_onnx(tiny_models, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    _fails_in_one_line(["export", tiny_models["lm"], "--out", tmp_path / "out"], capsys,
                       _line("rnnkit export", "onnx", "onnx"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("package", ["uvicorn", "fastapi"])
def test_serve_without_its_packages(tiny_models, capsys, monkeypatch, package):
    monkeypatch.setitem(sys.modules, package, None)
    monkeypatch.delitem(sys.modules, "rnnkit.serve.app", raising=False)
    _fails_in_one_line(["serve", tiny_models["classify"]], capsys,
                       _line("rnnkit serve", package, "serve"))


def test_training_on_the_bundled_tunes_without_music21(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "music21", None)
    _fails_in_one_line(["train", "lm", "--format", "abc", "--out", tmp_path / "m"], capsys,
                       _line("reading the bundled folk tunes", "music21", "music"))
    assert not (tmp_path / "m").exists()


def test_generating_tunes_without_music21(tiny_models, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "music21", None)
    _fails_in_one_line(["generate", tiny_models["lm"], "--format", "abc", "--out",
                        tmp_path / "tunes"], capsys,
                       _line("generate --format abc", "music21", "music"))
    assert not (tmp_path / "tunes").exists()


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_an_export_without_onnxruntime(exported, tmp_path, capsys, monkeypatch, command):
    data = tmp_path / "test.tsv"
    data.write_text("great fun\tpos\nawful\tneg\n", "utf-8")
    arguments = ["--text", "great fun"] if command == "predict" else ["--data", data]
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    _fails_in_one_line([command, exported, *arguments], capsys,
                       _line("running an exported model", "onnxruntime", "onnx"))


def test_debug_shows_the_traceback_of_a_missing_extra(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingExtra, match=r"pip install 'rnnkit\[onnx\]'"):
        main(["--debug", "export", str(tiny_models["lm"]), "--out", str(tmp_path / "out")])


def test_an_import_error_of_rnnkit_itself_keeps_its_traceback(tiny_models, tmp_path, capsys,
                                                              monkeypatch):
    monkeypatch.setitem(sys.modules, "rnnkit.export.writer", None)  # a module that fails
    with pytest.raises(ImportError) as raised:
        main(["export", str(tiny_models["lm"]), "--out", str(tmp_path / "out")])
    assert not isinstance(raised.value, MissingExtra)
    assert "rnnkit: error" not in capsys.readouterr().err

"""rnnkit.extras: require() imports an optional extra's package, or raises MissingExtra with
one line naming what needed it, the package and the extra to install."""

import importlib
import json
import subprocess
import sys
import xml.dom

import pytest

from rnnkit.extras import MissingExtra, require


def test_an_installed_package_or_submodule_is_returned():
    assert require("json", "onnx", "testing") is json
    assert require("xml.dom", "onnx", "testing") is xml.dom


def test_an_absent_package_names_the_purpose_the_package_and_the_extra():
    with pytest.raises(MissingExtra) as raised:
        require("rnnkit_absent_package.sub", "music", "reading tunes")
    error = raised.value
    assert str(error) == ("reading tunes needs rnnkit_absent_package, which is not installed: "
                          "pip install 'rnnkit[music]'")
    assert (error.purpose, error.package, error.extra, error.name) == (
        "reading tunes", "rnnkit_absent_package", "music", "rnnkit_absent_package")
    assert isinstance(error, ImportError)
    assert isinstance(error.__cause__, ModuleNotFoundError)


def test_a_package_made_unimportable_is_missing_though_its_submodule_was_loaded(monkeypatch):
    importlib.import_module("json.decoder")
    monkeypatch.setitem(sys.modules, "json", None)
    with pytest.raises(MissingExtra, match=r"^x needs json, which is not installed: "
                                           r"pip install 'rnnkit\[serve\]'$"):
        require("json.decoder", "serve", "x")


@pytest.mark.parametrize("body, reason", [
    ("import rnnkit_absent_dependency\n", "No module named 'rnnkit_absent_dependency'"),
    ("from os import rnnkit_absent_name\n", "cannot import name 'rnnkit_absent_name'"),
])
def test_an_installed_package_that_fails_to_import_says_why(tmp_path, monkeypatch, body,
                                                             reason):
    package = tmp_path / "rnnkit_broken_package"
    package.mkdir()
    (package / "__init__.py").write_text(body, "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtra) as raised:
        require("rnnkit_broken_package", "onnx", "ONNX export")
    message = str(raised.value)
    assert message.startswith("ONNX export needs rnnkit_broken_package, which does not import (")
    assert reason in message and message.endswith("): pip install 'rnnkit[onnx]'")
    assert "\n" not in message


def test_from_keras_without_keras_names_the_keras_extra(monkeypatch):
    from rnnkit.nn.interop import from_keras

    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(MissingExtra, match=r"^from_keras needs keras, which is not installed: "
                                           r"pip install 'rnnkit\[keras\]'$"):
        from_keras(object())


def test_reading_a_tune_as_music_names_the_music_extra(monkeypatch):
    from rnnkit.tasks.music_metrics import parse_abc

    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(MissingExtra, match=r"ABC tunes as music needs music21, .*'rnnkit\[music\]'"):
        parse_abc("X:1\nK:G\nGAB|]\n")


def test_the_module_imports_only_the_standard_library():
    code = ("import sys; before = set(sys.modules); import rnnkit.extras, rnnkit._lazy; "
            "print(sorted(m for m in set(sys.modules) - before if not m.startswith('rnnkit') "
            "and m.split('.')[0] not in sys.stdlib_module_names))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"

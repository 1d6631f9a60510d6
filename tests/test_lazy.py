"""rnnkit._lazy: the PEP 562 ``__getattr__``/``__dir__`` pair a package uses to import a
name's module on first use."""

import importlib
import sys

import pytest

from rnnkit._lazy import lazy_exports

PACKAGE = "rnnkit_lazy_probe"
INIT = """\
from rnnkit._lazy import lazy_exports

__all__ = ["Thing", "answer"]
calls = []


def _answer():
    calls.append("answer")
    return 42


__getattr__, __dir__ = lazy_exports(__name__, {"Thing": "things"}, {"answer": _answer})
"""


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """A package ``rnnkit_lazy_probe`` with ``Thing`` in its submodule ``things`` and a
    computed ``answer``."""
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text(INIT, "utf-8")
    (package / "things.py").write_text("class Thing:\n    pass\n", "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module(PACKAGE)
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def test_a_name_imports_its_module_on_first_use_and_is_kept(probe):
    assert f"{PACKAGE}.things" not in sys.modules
    thing = probe.Thing
    assert thing is sys.modules[f"{PACKAGE}.things"].Thing
    assert vars(probe)["Thing"] is thing  # later lookups skip __getattr__


def test_a_computed_name_is_made_once(probe):
    assert (probe.answer, probe.answer) == (42, 42)
    assert probe.calls == ["answer"]


def test_an_unknown_name_is_the_attribute_error_python_gives(probe):
    with pytest.raises(AttributeError, match=rf"^module '{PACKAGE}' has no attribute 'nope'$"):
        _ = probe.nope
    assert not hasattr(probe, "things_missing")


def test_dir_lists_the_lazy_names_before_their_use(probe):
    assert {"Thing", "answer", "calls"} <= set(dir(probe))
    assert f"{PACKAGE}.things" not in sys.modules


def test_a_name_in_both_mappings_is_refused():
    with pytest.raises(ValueError, match=r"lazy_exports: pkg: names \['x'\] are both"):
        lazy_exports("pkg", {"x": "module"}, {"x": lambda: 1})


@pytest.mark.parametrize("name", ["rnnkit", "rnnkit.data", "rnnkit.tasks", "rnnkit.train",
                                  "rnnkit.export"])
def test_every_public_name_of_a_lazy_package_resolves(name):
    if name == "rnnkit.export":
        pytest.importorskip("onnx")
    package = importlib.import_module(name)
    assert set(package.__all__) <= set(dir(package))
    for public in package.__all__:
        assert getattr(package, public) is not None, public
    with pytest.raises(AttributeError, match=rf"^module '{name}' has no attribute 'nope'$"):
        _ = package.nope


def test_the_train_package_gives_its_distributed_submodule():
    import rnnkit.train
    import rnnkit.train.distributed

    assert rnnkit.train.distributed is sys.modules["rnnkit.train.distributed"]
    assert rnnkit.load is sys.modules["rnnkit.loading"].load

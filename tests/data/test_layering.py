"""Layering and docstring examples of rnnkit.data (and rnnkit.text)."""

import doctest
import importlib
import subprocess
import sys

import pytest

MODULES = [
    "rnnkit.text.tokenizers",
    "rnnkit.text.sentences",
    "rnnkit.text.vocab",
    "rnnkit.data.encoding",
    "rnnkit.data.padding",
    "rnnkit.data.batching",
    "rnnkit.data.spans",
    "rnnkit.data.masking",
]


def test_data_layer_imports_no_model_or_training_code():
    code = (
        "import sys, rnnkit.data; "
        "bad = sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['rnnkit', 'nn'], ['rnnkit', 'models'], ['rnnkit', 'train'], ['rnnkit', 'tasks'])); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0

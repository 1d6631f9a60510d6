"""The README's "From Python" examples run as they stand, on tiny models put where they look
(``runs/demo``, ``runs/cls``, ``runs/cls_sub``, ``runs/ner``, ``runs/mt``)."""

import re
import shutil
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
PLACES = {"demo": "lm", "cls": "classify", "cls_sub": "classify2", "ner": "tag",
          "mt": "translate"}


def _python_blocks() -> list[str]:
    section = README.read_text("utf-8").split("## From Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_section_has_one_example_per_task():
    assert len(_python_blocks()) == 4


@pytest.mark.parametrize("index", range(4))
def test_each_example_runs(index, tiny_models, tmp_path, monkeypatch, capsys):
    for place, name in PLACES.items():
        shutil.copytree(tiny_models[name], tmp_path / "runs" / place)
    monkeypatch.chdir(tmp_path)
    exec(compile(_python_blocks()[index], f"README block {index + 1}", "exec"), {})  # noqa: S102 - our own README
    assert capsys.readouterr().out.strip()

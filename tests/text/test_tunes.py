"""Cutting the tune out of a model's sampled ABC text: where it begins and where it ends."""

import subprocess
import sys

import pytest

from rnnkit.text.tunes import cut_tune, may_end_tune


@pytest.mark.parametrize("text, abc, ended", [
    ("X:1\nK:D\nabc|]\n\nX:2\nK:G\n", "X:1\nK:D\nabc|]\n", True),
    ("X:1\nK:D\nabc|]\nX:2\nK:G\n", "X:1\nK:D\nabc|]\n", True),
    ("junk before\nX:1\nK:D\nabc|]\n  \nmore", "X:1\nK:D\nabc|]\n", True),
    ("a lead-in\n\nwith a blank line\nX:1\nK:D\nabc|]\n\n", "X:1\nK:D\nabc|]\n", True),
    ("X:1\nK:D\nabc|abc|ab", "X:1\nK:D\nabc|abc|ab\n", False),
    ("X:1\nK:D\nabc|]\nX", "X:1\nK:D\nabc|]\nX\n", False),
    ("no tune at all", "no tune at all\n", False),
    ("no X: line\nK:D\nabc|]\n\nafter the blank line", "no X: line\nK:D\nabc|]\n", True),
])
def test_a_sample_is_cut_from_its_x_line_to_its_end(text, abc, ended):
    tune = cut_tune(text)
    assert (tune.abc, tune.ended) == (abc, ended)


def test_the_cut_needs_neither_torch_nor_music21():
    code = ("import sys; import rnnkit.text.tunes; "
            "assert not {'torch', 'music21'} & set(sys.modules), 'imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_only_a_line_break_or_a_colon_can_end_a_tune():
    assert may_end_tune("\n") and may_end_tune(":") and may_end_tune("a\nb")
    assert not may_end_tune("X") and not may_end_tune("abc |")

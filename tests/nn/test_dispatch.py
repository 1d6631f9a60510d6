"""Every rule in ``rnnkit.nn.kernels.dispatch`` points to a subsection of
``benchmarks/RESULTS.md`` that exists (its measurements live there, not in the docstrings)."""

import re
from pathlib import Path

from rnnkit.nn.kernels import dispatch

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"


def test_every_cited_results_section_exists():
    cited = re.findall(r'See RESULTS,\s+"([^"]+)"', Path(dispatch.__file__).read_text("utf-8"))
    headings = {line.lstrip("#").strip() for line in RESULTS.read_text("utf-8").splitlines()
                if line.startswith("#")}
    assert len(cited) >= 8
    assert set(cited) <= headings, set(cited) - headings

"""rnnkit.tasks sits below rnnkit.export and the faces (DESIGN, "Layers of the house"): no
module of it imports them, not even inside a function."""

import ast
from pathlib import Path

import rnnkit

TASKS = Path(rnnkit.__file__).parent / "tasks"
ABOVE = ("rnnkit.export", "rnnkit.loading", "rnnkit.cli", "rnnkit.serve")


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_tasks_import_nothing_from_the_layers_above():
    found = {
        f"{path.name}: {name}"
        for path in sorted(TASKS.glob("*.py"))
        for name in _imported_modules(path)
        if any(name == above or name.startswith(f"{above}.") for above in ABOVE)
    }
    assert not found, sorted(found)
    assert len(list(TASKS.glob("*.py"))) > 5  # the glob found the package's modules

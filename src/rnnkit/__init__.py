"""rnnkit: recurrent neural networks for text, end to end.

Layers of the package (imports point down this list, never up):
``text`` → ``data`` → ``nn`` → ``models`` → ``train`` → ``tasks`` → ``cli``.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def __getattr__(name: str):
    """``rnnkit.load`` imports the tasks (and torch) on first use, so ``import rnnkit`` stays
    light and the CLI can set threading variables before torch loads."""
    if name == "load":
        from rnnkit.tasks import load

        return load
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")

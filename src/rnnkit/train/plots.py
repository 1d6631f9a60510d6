"""Training curves as PNG (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from rnnkit.text import atomic_path


def _pyplot() -> ModuleType:
    """matplotlib's pyplot on the headless Agg backend, imported at the first plot: it takes
    about half a second, which a command that draws nothing should not pay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_losses(history: list[dict], path: Path, title: str) -> None:
    """Train and validation loss per epoch, written atomically to ``path``."""
    epochs = [row["epoch"] for row in history]
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4), dpi=100)
    axis.plot(epochs, [row["train_loss"] for row in history], marker="o", label="train")
    valid = [row.get("valid_loss") for row in history]
    if any(value is not None for value in valid):
        axis.plot(epochs, valid, marker="o", label="validation")
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss (nats per token)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)


def plot_gates(tokens: list[str], gates: dict, path: Path, units: int = 32) -> None:
    """Heatmaps of LSTM gates and cell state: one panel per name in ``gates``, units × tokens.

    ``gates`` maps a name (``i``, ``f``, ``o``, ``c``) to a ``(T, H)`` array; the first
    ``units`` hidden units are shown. Gates use a 0–1 scale, the cell state a symmetric one.
    """
    names = list(gates)
    width = max(6.0, 0.35 * len(tokens) + 2)
    plt = _pyplot()
    figure, axes = plt.subplots(len(names), 1, figsize=(width, 2.2 * len(names)), dpi=100,
                                squeeze=False)
    titles = {"i": "input gate i", "f": "forget gate f", "o": "output gate o", "c": "cell state c"}
    for axis, name in zip(axes[:, 0], names):
        values = gates[name][:, :units].T  # (units, T)
        if name == "c":
            bound = float(abs(values).max()) or 1.0
            image = axis.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound)
        else:
            image = axis.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        axis.set_title(titles.get(name, name), fontsize=9)
        axis.set_ylabel("unit")
        axis.set_xticks(range(len(tokens)))
        axis.set_xticklabels([repr(t)[1:-1] if t.strip() else "␣" for t in tokens], fontsize=7,
                             rotation=90 if max(map(len, tokens)) > 2 else 0)
        figure.colorbar(image, ax=axis, fraction=0.02, pad=0.01)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)


def plot_confusion(matrix: list[list[int]], labels: list[str], path: Path, title: str) -> None:
    """Confusion matrix as a heatmap (rows gold, columns predicted) with counts in the cells,
    written atomically to ``path``."""
    size = max(4.0, 0.6 * len(labels) + 2)
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(size, size), dpi=100)
    image = axis.imshow(matrix, cmap="Blues")
    peak = max((max(row) for row in matrix), default=0)
    for row, counts in enumerate(matrix):
        for column, count in enumerate(counts):
            axis.text(column, row, str(count), ha="center", va="center",
                      color="white" if count > peak / 2 else "black", fontsize=8)
    axis.set_xticks(range(len(labels)))
    axis.set_xticklabels(labels, rotation=45 if max(map(len, labels)) > 3 else 0, ha="right")
    axis.set_yticks(range(len(labels)))
    axis.set_yticklabels(labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("gold")
    axis.set_title(title)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)

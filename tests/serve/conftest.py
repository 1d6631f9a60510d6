"""A tiny language model over tunes in ABC notation, for the serving tests."""

import pytest

from rnnkit.tasks import language_modeling
from rnnkit.tasks.language_modeling import LMData
from rnnkit.train import TrainConfig

BARS = ["GABc", "dBAG", "FGAB", "cAFD", "GABc", "dcBA", "FAGF", "G4"]


def reels(count: int) -> str:
    """``count`` distinct tunes in ABC (one reel's bars, rotated), a blank line between."""
    tunes = []
    for number in range(1, count + 1):
        bars = BARS[number % len(BARS):] + BARS[:number % len(BARS)]
        tunes.append(f"X:{number}\nT:Reel {number}\nM:4/4\nL:1/8\nK:G\n"
                     f"{bars[0]} {bars[1]}|{bars[2]} {bars[3]}|\n"
                     f"{bars[4]} {bars[5]}|{bars[6]} {bars[7]}|]\n")
    return "\n".join(tunes)


@pytest.fixture(scope="session")
def abc_model(tmp_path_factory):
    """A character-level model trained on 24 short reels (``rnnkit train lm --format
    abc``), in a directory named ``tunes``."""
    root = tmp_path_factory.mktemp("abc")
    corpus = root / "reels.abc"
    corpus.write_text(reels(24), "utf-8")
    language_modeling.LANGUAGE_MODELING.train(
        LMData(corpus=str(corpus), format="abc", batch_size=4, bptt=16, eval_batch_size=2),
        {"embed_size": 16, "hidden_size": 32, "num_layers": 1},
        TrainConfig(epochs=6, optimizer="adam", lr=0.02), root / "tunes", quiet=True)
    return root / "tunes"

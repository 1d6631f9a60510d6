"""A tiny language model over tunes in ABC notation, for the serving tests."""

import json

import pytest

from rnnkit.tasks import language_modeling
from rnnkit.tasks.language_modeling import LMData
from rnnkit.train import TrainConfig
from rnnkit.train.model_dir import CONFIG_FILE

TUNE = """X:1
T:The Test Reel
M:4/4
L:1/8
K:G
GABc dBAG|FGAB cAFD|GABc dBAG|FAGF G4|]
"""


@pytest.fixture(scope="session")
def abc_model(tmp_path_factory):
    """A character-level model that has learnt one tune by heart, in a directory whose
    ``config.json`` says ``format: "abc"`` (so the server sees an ABC model)."""
    root = tmp_path_factory.mktemp("abc")
    corpus = root / "tunes.abc"
    corpus.write_text(TUNE * 20, "utf-8")
    directory = root / "tunes"
    language_modeling.LANGUAGE_MODELING.train(
        LMData(corpus=str(corpus), level="char", batch_size=4, bptt=16, eval_batch_size=2),
        {"embed_size": 16, "hidden_size": 32, "num_layers": 1},
        TrainConfig(epochs=4, optimizer="adam", lr=0.02), directory, quiet=True)
    config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
    config["data"].update(format="abc", abc_headers="strip")
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2), "utf-8")
    return directory

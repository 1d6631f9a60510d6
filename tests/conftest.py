"""Shared fixtures: the optional ../shared/data folder; one torch thread for small tests; tiny
trained directories of every built-in task, and a tiny language model over tunes in ABC
notation."""

import os

# Busy-waiting OpenMP threads make small recurrent loops many times slower whenever another
# process shares the cores; set before torch is imported by any test module.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import pytest
import torch

from rnnkit.tasks import classification, language_modeling, tagging, translation
from rnnkit.tasks.classification_data import ClassificationData
from rnnkit.tasks.language_modeling import LMData
from rnnkit.tasks.tagging import TaggingData
from rnnkit.tasks.translation import TranslationData
from rnnkit.train import TrainConfig

# The tests run tiny tensors: one thread avoids synchronisation overhead and oversubscription.
torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """Path to ../shared/data beside the checkout; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared datasets at {SHARED_DATA}, which is absent in this checkout")
    return SHARED_DATA


QUICK = TrainConfig(epochs=2, optimizer="adam", lr=0.03)
POSITIVE = ["a great fun movie", "wonderful and great", "i loved it"]
NEGATIVE = ["a boring bad movie", "terrible and dull", "i hated it"]
SENTENCES = [("John lives in Paris .", "B-PER O O B-LOC O"),
             ("Mary Smith visited London .", "B-PER I-PER O B-LOC O"),
             ("the cat sat .", "O O O O")]
PAIRS = [("i am happy .", "我很高兴。"), ("she is sad .", "她很难过。"), ("he is here .", "他在这里。")]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict:
    """A tiny trained directory of every task, and a second classifier (another seed)."""
    root = tmp_path_factory.mktemp("pipelines")
    corpus = root / "corpus.txt"
    corpus.write_text("the cat sat on the mat .\nthe dog ate the bone .\n" * 20, "utf-8")
    language_modeling.LANGUAGE_MODELING.train(
        LMData(corpus=str(corpus), level="word", batch_size=4, bptt=8, eval_batch_size=2),
        {"embed_size": 8, "hidden_size": 8, "num_layers": 1}, QUICK, root / "lm", quiet=True)
    labelled = root / "train.tsv"
    labelled.write_text("".join(f"{text}\tpos\n" for text in POSITIVE * 4)
                        + "".join(f"{text}\tneg\n" for text in NEGATIVE * 4), "utf-8")
    data = ClassificationData(train=str(labelled), valid=str(labelled), batch_size=8)
    for name, seed in (("classify", 0), ("classify2", 1)):
        classification.CLASSIFICATION.train(
            data, {"embed_size": 8, "hidden_size": 8},
            TrainConfig(epochs=2, optimizer="adam", lr=0.03, seed=seed), root / name,
            quiet=True)
    conll = root / "train.conll"
    conll.write_text("".join("\n".join(f"{w} {t}" for w, t in zip(s.split(), tags.split()))
                             + "\n\n" for s, tags in SENTENCES * 4), "utf-8")
    tagging.TAGGING.train(TaggingData(train=str(conll), valid=str(conll), batch_size=4),
                          {"embed_size": 8, "hidden_size": 8, "char_embed_size": 4,
                           "char_features": 4}, QUICK, root / "tag", quiet=True)
    pairs = root / "pairs.tsv"
    pairs.write_text("".join(f"{s}\t{t}\n" for s, t in PAIRS * 4), "utf-8")
    translation.TRANSLATION.train(
        TranslationData(train=str(pairs), valid=str(pairs), batch_size=4),
        {"embed_size": 8, "hidden_size": 8, "attention_size": 8}, QUICK, root / "translate",
        quiet=True)
    return {"root": root, **{name: root / name for name in
                             ("lm", "classify", "classify2", "tag", "translate")}}




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

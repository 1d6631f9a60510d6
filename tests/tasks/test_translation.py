"""Translation end to end on tiny inline pairs: overfit, greedy and beam on a saved
directory, BLEU, and bad input."""

import pytest
import torch

from rnnkit.tasks import translation
from rnnkit.train import TrainConfig
from tests.tasks.shares import evaluate_as_two_processes

PAIRS = [("I am happy.", "我很高兴。"), ("I am sad.", "我很难过。"), ("You are happy.", "你很高兴。"),
         ("He is tall.", "他很高。"), ("She is sad.", "她很难过。")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("translate")
    (root / "pairs.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in PAIRS * 6))
    data = translation.TranslationData(train=str(root / "pairs.tsv"),
                                       valid=str(root / "pairs.tsv"), batch_size=8)
    model = {"embed_size": 16, "hidden_size": 32, "attention_size": 16, "dropout": 0.0}
    trainer = translation.TRANSLATION.train(data, model,
                                           TrainConfig(epochs=12, optimizer="adam", lr=0.01),
                                           root / "model", quiet=True)
    yield root, trainer
    torch.set_num_threads(threads)


def test_a_tiny_dataset_is_overfit(trained):
    assert trained[1].history[-1]["valid_bleu_greedy"] > 99


def test_greedy_and_beam_translate_on_the_saved_directory(trained):
    loaded = translation.TRANSLATION.load(trained[0] / "model")
    texts = ["I am happy.", "She is sad."]
    assert loaded.translate(texts) == ["我很高兴。", "她很难过。"]
    assert loaded.translate(texts, beam_width=5) == ["我很高兴。", "她很难过。"]


def test_evaluate_reports_bleu_and_samples(trained):
    loaded = translation.TRANSLATION.load(trained[0] / "model")
    report = loaded.evaluate(trained[0] / "pairs.tsv", beam_width=3)
    assert report["bleu"] > 99 and report["pairs"] == 30
    assert report["samples"][0] == {"source": "I am happy.", "reference": "我很高兴。",
                                    "output": "我很高兴。"}


def test_a_line_without_its_pair_is_an_error(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Hi.\t嗨。\nHello.\n")
    with pytest.raises(ValueError, match=r"pairs.tsv:2: expected 2 tab-separated columns"):
        translation.read_translation_pairs(path)
    path.write_text("Hi.\t嗨。\n\t你好。\n")
    with pytest.raises(ValueError, match="pair 2 has an empty source"):
        translation.read_translation_pairs(path)


def test_long_sources_are_cut_with_a_warning_and_empty_input_is_an_error(trained):
    loaded = translation.TRANSLATION.load(trained[0] / "model")
    with pytest.warns(UserWarning, match="longer than max_source_length=50 tokens"):
        loaded.translate(["happy " * 60])
    with pytest.raises(ValueError, match="no texts to translate"):
        loaded.translate([])
    with pytest.raises(ValueError, match="text 1 has no tokens"):
        loaded.translate(["  "])


def test_validation_is_split_into_shares_that_make_the_whole_set(trained, monkeypatch):
    """As process 0 and 1 of 2: each takes its share; their loss sums add up to one
    process's loss, and their translations, joined in rank order, are one process's."""
    task, model = trained[1].task, trained[1].model
    alone = task.evaluate(model)
    whole = translation.translate_ids(model, task.valid.sources, task.data.max_target_length)
    sums, translated = evaluate_as_two_processes(task, model, monkeypatch)
    assert [len(share) for share in translated] == [len(whole) // 2,
                                                   len(whole) - len(whole) // 2]
    assert translated[0] + translated[1] == whole
    total, count = (sum(parts) for parts in zip(*sums))
    assert total / count == pytest.approx(alone["loss"], rel=1e-6)

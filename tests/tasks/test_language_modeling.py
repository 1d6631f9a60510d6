"""Language modelling end to end on a tiny corpus: train, load, generate, evaluate."""

import numpy as np
import pytest
import torch

from rnnkit.tasks import language_modeling as lm
from rnnkit.tasks.lm_pipeline import LanguageModelPipeline
from rnnkit.text import Vocab, get_tokenizer
from rnnkit.train import TrainConfig
from rnnkit.train.model_dir import ModelDirectoryError

ENGLISH = "the cat sat on the mat .\nthe dog sat on the log .\na cat and a dog .\n" * 30
CHINESE = "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。\n" * 40


def _train(tmp_path, text, level, lang, epochs=2, **model):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    data = lm.LMData(corpus=str(corpus), level=level, lang=lang, batch_size=4, bptt=8,
                     eval_batch_size=2)
    options = {"cell": "lstm", "embed_size": 16, "hidden_size": 32, "num_layers": 1, **model}
    lm.LANGUAGE_MODELING.train(data, options, TrainConfig(epochs=epochs, optimizer="adam",
                                                       lr=0.02), tmp_path / "model", quiet=True)
    return lm.LANGUAGE_MODELING.load(tmp_path / "model")


def test_word_model_learns_and_generates_sentences(tmp_path):
    loaded = _train(tmp_path, ENGLISH, "word", "en", epochs=8)
    history = [line for line in (tmp_path / "model" / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 8
    metrics = loaded.evaluate(tmp_path / "corpus.txt", batch_size=2, bptt=8)
    assert metrics["ppl"] < 3.0
    samples = loaded.generate("the", n=3, max_tokens=20, seed=0)
    assert len(samples) == 3 and all(s.startswith("the") for s in samples)
    assert all("<" not in s for s in samples)


def test_generation_with_a_seed_is_reproducible(tmp_path):
    loaded = _train(tmp_path, ENGLISH, "word", "en")
    first = loaded.generate("a", n=2, temperature=0.9, top_p=0.9, seed=3)
    assert first == loaded.generate("a", n=2, temperature=0.9, top_p=0.9,
                                     seed=3)


def test_chinese_characters_come_back_without_spaces(tmp_path):
    loaded = _train(tmp_path, CHINESE, "char", "zh", epochs=3)
    sample = loaded.generate("举头", max_tokens=12, seed=0)[0]
    assert sample.startswith("举头") and " " not in sample
    streamed = list(loaded.generate_stream("举头", max_tokens=12, seed=0))
    assert streamed[-1] == sample and [len(text) for text in streamed] == list(range(3, 15))


def test_a_line_break_in_a_character_prompt_is_the_line_end_it_was_trained_with(tmp_path):
    vocab = Vocab.build([list("X:1T")])
    pipeline = LanguageModelPipeline(tmp_path, {"data": {"level": "char"}}, object(), vocab,
                                     get_tokenizer("char"))
    ids = pipeline.encode_prompt("X:1\nT:\n")
    assert ids == [vocab.eos_id, *vocab.encode(list("X:1")), vocab.eos_id,
                   *vocab.encode(list("T:")), vocab.eos_id]
    assert pipeline.detokenize(ids[1:]) == "X:1\nT:\n"
    assert pipeline.encode_prompt("") == [vocab.eos_id]
    words = LanguageModelPipeline(tmp_path, {"data": {"level": "word"}}, object(),
                                  Vocab.build([["the", "cat"]]), get_tokenizer("word"))
    assert words.encode_prompt("the\ncat") == words.encode_prompt("the cat")


def test_chinese_words_via_jieba_come_back_without_spaces(tmp_path):
    loaded = _train(tmp_path, CHINESE, "word", "zh")
    assert loaded.tokenizer.config()["name"] == "chinese"
    sample = loaded.generate("明月", max_tokens=8, seed=1)[0]
    assert " " not in sample


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_resume_continues_to_identical_weights(tmp_path, cell):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(ENGLISH)
    data = lm.LMData(corpus=str(corpus), batch_size=4, bptt=8, eval_batch_size=2)
    model = {"cell": cell, "embed_size": 8, "hidden_size": 8, "num_layers": 2, "dropout": 0.2}
    full = TrainConfig(epochs=2, lr=0.5)
    whole = lm.LANGUAGE_MODELING.train(data, model, full, tmp_path / "a", quiet=True)
    partial = TrainConfig(epochs=2, lr=0.5, max_steps=7)
    lm.LANGUAGE_MODELING.train(data, model, partial, tmp_path / "b", quiet=True)
    config_path = tmp_path / "b" / "config.json"
    config_path.write_text(config_path.read_text().replace('"max_steps": 7', '"max_steps": 0'))
    resumed = lm.LANGUAGE_MODELING.resume(tmp_path / "b", quiet=True)
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name


def test_gate_trace_for_inspect(tmp_path):
    loaded = _train(tmp_path, ENGLISH, "word", "en", epochs=1)
    tokens, gates = loaded.trace_gates("the cat sat")
    assert tokens == ["</s>", "the", "cat", "sat"]
    assert set(gates) == {"i", "f", "o", "c"} and gates["i"].shape == (4, 32)


def test_bad_input(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="holds no text"):
        lm.LANGUAGE_MODELING.train(lm.LMData(corpus=str(empty)), {}, TrainConfig(), tmp_path / "m",
                                quiet=True)
    short = tmp_path / "short.txt"
    short.write_text("a b c\n")
    with pytest.raises(ValueError, match="one window needs bptt \\+ 1"):
        lm.LANGUAGE_MODELING.train(lm.LMData(corpus=str(short)), {}, TrainConfig(),
                                tmp_path / "m2", quiet=True)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt:1"):
        lm.LANGUAGE_MODELING.train(lm.LMData(corpus=str(latin1)), {}, TrainConfig(),
                                tmp_path / "m3", quiet=True)
    with pytest.raises(ModelDirectoryError, match="does not exist"):
        lm.LANGUAGE_MODELING.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="level must be one of word, char"):
        lm.LMData(corpus="x", level="byte")
    with pytest.raises(ValueError, match="tokenizer 'char' does not fit level 'word'"):
        lm.LMData(corpus="x", tokenizer="char")


def test_whitespace_tokenizer_keeps_pretokenized_words(tmp_path):
    corpus = tmp_path / "ptb.txt"
    corpus.write_text(" mr. <unk> is n't here N \n" * 50)
    data = lm.LMData(corpus=str(corpus), tokenizer="whitespace", batch_size=2, bptt=5,
                     eval_batch_size=2)
    lm.LANGUAGE_MODELING.train(data, {"embed_size": 4, "hidden_size": 4, "num_layers": 1},
                            TrainConfig(epochs=1), tmp_path / "m", quiet=True)
    vocab = lm.LANGUAGE_MODELING.load(tmp_path / "m").vocab
    assert "mr." in vocab and "n't" in vocab and "N" in vocab and "<" not in vocab


def test_sentence_batches_shift_and_mask():
    vocab = Vocab(["<pad>", "<unk>", "<s>", "</s>", "a", "b", "c"])
    ids = np.array([4, 5, 3, 6, 3, 4, 5, 6, 3])  # "a b", "c", "a b c"
    batches = lm.SentenceBatches(ids, vocab, batch_size=3, shuffle=False)
    (x, y), = list(batches)
    rows = sorted(zip(x.tolist(), y.tolist()), key=lambda row: row[0].count(0))
    assert rows[0] == ([2, 4, 5, 6], [4, 5, 6, 3])
    assert rows[1] == ([2, 4, 5, 0], [4, 5, 3, lm.IGNORE_INDEX])
    assert rows[2] == ([2, 6, 0, 0], [6, 3, lm.IGNORE_INDEX, lm.IGNORE_INDEX])


def test_sentence_mode_trains_and_generates_whole_sentences(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(ENGLISH)
    data = lm.LMData(corpus=str(corpus), mode="sentences", batch_size=8, eval_batch_size=4)
    model = {"embed_size": 16, "hidden_size": 32, "num_layers": 1}
    trainer = lm.LANGUAGE_MODELING.train(data, model, TrainConfig(epochs=6, optimizer="adam",
                                                               lr=0.02), tmp_path / "m",
                                      quiet=True)
    assert trainer.history[-1]["valid_ppl"] < 3.0
    loaded = lm.LANGUAGE_MODELING.load(tmp_path / "m")
    assert loaded.encode_prompt("the")[0] == loaded.vocab.bos_id
    samples = loaded.generate("", n=4, max_tokens=30, seed=0)
    assert all(sample.rstrip().endswith(".") for sample in samples)

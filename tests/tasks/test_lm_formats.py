"""The language model's data formats: plain text and ABC tunes (``LMData.format``), and the
pipeline's ``text_format`` that tells generation and serving which one a model reads."""

from pathlib import Path

import numpy as np
import pytest

from rnnkit.tasks import language_modeling as lm
from rnnkit.tasks.lm_pipeline import LanguageModelPipeline
from rnnkit.text import Vocab, get_tokenizer
from rnnkit.text.tunes import GeneratedTune


def test_abc_is_character_level_with_stripped_headers_by_default():
    data = lm.LMData(corpus=None, format="abc")
    assert (data.level, data.tokenizer, data.abc_headers, data.split_seed) == (
        "char", "char", "strip", 0)
    assert lm.LMData.from_dict(data.to_dict()) == data


def test_text_keeps_its_word_level_default_and_no_abc_settings():
    data = lm.LMData(corpus="corpus.txt")
    assert (data.format, data.level, data.tokenizer, data.abc_headers, data.split_seed) == (
        "text", "word", "word", None, None)


@pytest.mark.parametrize("options, message", [
    ({"format": "abc", "level": "word"}, "format 'abc' is character level, got level 'word'"),
    ({"format": "abc", "tokenizer": "whitespace"},
     "format 'abc' is character level, got tokenizer 'whitespace'"),
    ({"format": "abc", "abc_headers": "all"}, "abc_headers must be one of keep, strip"),
    ({"format": "midi"}, "format must be one of text, abc"),
    ({"abc_headers": "keep"}, "abc_headers 'keep' applies to format 'abc', got format 'text'"),
    ({"split_seed": 3}, "split_seed 3 applies to format 'abc', got format 'text'"),
    ({"format": "abc", "split_seed": -1}, "split_seed must be"),
    ({"format": "abc", "mode": "sentences"}, "format 'abc' needs mode 'stream', got 'sentences'"),
])
def test_settings_that_do_not_fit_the_format_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        lm.LMData(corpus="tunes.abc", **options)


def test_a_text_model_needs_a_corpus():
    with pytest.raises(ValueError, match="corpus is required for format 'text', got None"):
        lm.LMData(corpus=None)


def _pipeline(directory: Path, data: dict) -> LanguageModelPipeline:
    vocab = Vocab.build([list("abc")])
    return LanguageModelPipeline(directory, {"data": data}, object(), vocab,
                                 get_tokenizer("char"))


def test_text_format_reads_the_config_and_old_directories_hold_text(tmp_path):
    abc = _pipeline(tmp_path, {"level": "char", "format": "abc"})
    assert abc.text_format == "abc"
    assert abc.held_out_tunes == tmp_path / "corpus" / "valid.abc"
    old = _pipeline(tmp_path, {"level": "char"})
    assert old.text_format == "text"
    with pytest.raises(ValueError, match="only ABC models keep held-out tunes"):
        old.held_out_tunes  # noqa: B018


class ScriptedBackend:
    """Draws the characters of one given text per sample, a step at a time (``~`` once a
    text runs out), and counts the steps the pipeline takes before it stops the model."""

    def __init__(self, vocab: Vocab, texts: list[str]) -> None:
        self.vocab, self.texts, self.steps = vocab, texts, 0

    def ids(self, text: str) -> list[int]:
        return [self.vocab.eos_id if char == "\n" else self.vocab.encode([char])[0]
                for char in text]

    def sample_steps(self, prompt, config, num_samples, seed):
        rows = [self.ids(text) + self.ids("~") * config.max_new_tokens
                for text in self.texts[:num_samples]]
        self.steps = 0
        for step in range(config.max_new_tokens):
            self.steps += 1
            yield np.array([row[step] for row in rows])  # (B,)


TUNE_ONE = "1\nK:D\nabc|]\n"
"""The continuation of the prompt "X:" to the end of tune 1's last line."""


def _scripted(tmp_path: Path, texts: list[str], data: dict | None = None
              ) -> tuple[LanguageModelPipeline, ScriptedBackend]:
    vocab = Vocab.build([list("X:1234KDGTabcdeilnx|]~- ")])
    backend = ScriptedBackend(vocab, texts)
    data = data or {"level": "char", "format": "abc"}
    pipeline = LanguageModelPipeline(tmp_path, {"data": data}, backend, vocab,
                                     get_tokenizer("char"))
    return pipeline, backend


@pytest.mark.parametrize("after, more_steps", [("\nX:2\nK:G\n", 1), ("X:2\nK:G\n", 2),
                                               (" \nX:2\n", 2)])
def test_an_abc_model_stops_at_its_tune_s_end(tmp_path, after, more_steps):
    # a blank line (spaces allowed) or the next X: line ends the tune; the model stops there
    pipeline, backend = _scripted(tmp_path, [TUNE_ONE + after + "abc"])
    assert pipeline.generate("X:", max_tokens=100) == ["X:" + TUNE_ONE]
    assert backend.steps == len(TUNE_ONE) + more_steps


def test_a_stream_of_an_abc_model_ends_with_the_tune_generate_gives(tmp_path):
    pipeline, backend = _scripted(tmp_path, ["1\nT:x\nK:D\nabc|]\n\nX:2\nK:G\n"])
    texts = list(pipeline.generate_stream("lead-in\nX:", max_tokens=100))
    assert texts[-1] == pipeline.generate("lead-in\nX:", max_tokens=100)[0] == \
        "X:1\nT:x\nK:D\nabc|]\n"
    assert len(texts) == backend.steps == len("1\nT:x\nK:D\nabc|]\n\n")
    assert all(text == "lead-in\nX:" + "1\nT:x\nK:D\nabc|]\n"[:length]
               for length, text in enumerate(texts[:-1], 1))


def test_sample_tunes_reports_the_tunes_that_did_not_end(tmp_path):
    pipeline, backend = _scripted(tmp_path, [TUNE_ONE + "X:2\n", "1\nK:D\nabc|abc|abc|abc"])
    ended, unended = pipeline.sample_tunes("X:", n=2, max_tokens=14)
    assert (ended.abc, ended.ended) == ("X:" + TUNE_ONE, True)
    assert (unended.abc, unended.ended) == ("X:1\nK:D\nabc|abc|\n", False)
    assert backend.steps == 14
    (streamed, *_) = reversed(list(pipeline.generate_stream("X:", max_tokens=14)))
    assert streamed == ended.abc


def test_a_text_model_runs_on_but_can_write_tunes(tmp_path):
    # a character model that read a plain file of tunes: its text is text, its tunes are cut
    pipeline, backend = _scripted(tmp_path, [TUNE_ONE + "\nX:2\n"], {"level": "char"})
    assert pipeline.generate("X:", max_tokens=20) == ["X:" + (TUNE_ONE + "\nX:2\n~~~~")[:20]]
    (tune,) = pipeline.sample_tunes("X:", max_tokens=20)
    assert tune == GeneratedTune("X:" + TUNE_ONE, True)
    assert backend.steps == len(TUNE_ONE) + 1


@pytest.mark.parametrize("data, default", [({"level": "char", "format": "abc"}, 1000),
                                           ({"level": "char"}, 100)])
def test_without_max_tokens_a_tune_may_take_a_tune_s_length(tmp_path, data, default):
    # an ABC model's sample is a whole tune; a text model's default stays 100 tokens
    pipeline, backend = _scripted(tmp_path, ["~" * 2000], data)
    assert pipeline.default_max_tokens == default
    (text,) = pipeline.generate("X:")
    assert backend.steps == default and len(list(pipeline.generate_stream("X:"))) == default
    assert text.rstrip("\n") == "X:" + "~" * default  # an unended tune keeps a final line break

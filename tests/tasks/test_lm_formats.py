"""The language model's data formats: plain text and ABC tunes (``LMData.format``), and the
pipeline's ``text_format`` that tells generation and serving which one a model reads."""

from pathlib import Path

import pytest

from rnnkit.tasks import language_modeling as lm
from rnnkit.tasks.lm_pipeline import LanguageModelPipeline
from rnnkit.text import Vocab, get_tokenizer


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

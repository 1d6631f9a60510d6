"""Random contiguous spans: bounds, distinctness, determinism and bad input."""

import pytest

from rnnkit.data import Span, sample_spans


def test_every_span_is_proper_contiguous_and_at_least_two_tokens():
    lengths = [3, 5, 17, 40]
    spans = sample_spans(lengths, per_text=6, seed=0)
    assert spans
    for span in spans:
        n = lengths[span.text]
        assert 0 <= span.start < span.stop <= n
        assert 2 <= span.stop - span.start <= n - 1


def test_spans_of_one_text_are_distinct_and_at_most_per_text():
    spans = sample_spans([30] * 20, per_text=8, seed=1)
    for text in range(20):
        own = [span for span in spans if span.text == text]
        assert 1 <= len(own) <= 8
        assert len(set(own)) == len(own)


def test_a_three_token_text_has_only_its_two_pairs_and_shorter_texts_none():
    spans = sample_spans([0, 1, 2, 3], per_text=50, seed=0)
    assert spans == [Span(3, 0, 2), Span(3, 1, 3)]


def test_the_seed_decides_the_spans():
    lengths = [12, 25, 9]
    assert sample_spans(lengths, 4, seed=5) == sample_spans(lengths, 4, seed=5)
    assert sample_spans(lengths, 4, seed=5) != sample_spans(lengths, 4, seed=6)


def test_every_length_and_start_is_drawn():
    spans = sample_spans([6] * 400, per_text=3, seed=0)
    assert {span.stop - span.start for span in spans} == {2, 3, 4, 5}
    assert {span.start for span in spans} == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("per_text", [0, -1, 2.0, True])
def test_per_text_must_be_a_positive_int(per_text):
    with pytest.raises(ValueError, match=f"per_text must be an int >= 1, got {per_text!r}"):
        sample_spans([5], per_text, seed=0)

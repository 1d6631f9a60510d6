"""Masked copies: counts, positions, masking rate, determinism and bad input."""

import pytest

from rnnkit.data import MaskedCopy, sample_masked_copies


def test_each_non_empty_text_gets_its_copies_in_text_order():
    copies = sample_masked_copies([4, 0, 7, 1], copies=3, prob=0.3, seed=0)
    assert [copy.text for copy in copies] == [0, 0, 0, 2, 2, 2, 3, 3, 3]


def test_masked_positions_are_distinct_ascending_and_inside_the_text():
    lengths = [5, 12, 30]
    for copy in sample_masked_copies(lengths, copies=20, prob=0.4, seed=1):
        assert list(copy.masked) == sorted(set(copy.masked))
        assert all(0 <= position < lengths[copy.text] for position in copy.masked)


def test_positions_are_masked_at_the_given_rate():
    copies = sample_masked_copies([50] * 200, copies=2, prob=0.15, seed=2)
    masked = sum(len(copy.masked) for copy in copies)
    assert 0.14 < masked / (50 * 200 * 2) < 0.16
    assert {position for copy in copies for position in copy.masked} == set(range(50))


def test_probability_one_masks_every_position():
    assert sample_masked_copies([3], copies=2, prob=1.0, seed=0) == [MaskedCopy(0, (0, 1, 2))] * 2


def test_the_seed_decides_the_masks():
    lengths = [20, 15]
    assert (sample_masked_copies(lengths, 3, 0.2, seed=4)
            == sample_masked_copies(lengths, 3, 0.2, seed=4))
    assert (sample_masked_copies(lengths, 3, 0.2, seed=4)
            != sample_masked_copies(lengths, 3, 0.2, seed=5))


@pytest.mark.parametrize("copies", [0, -2, 1.5, True])
def test_copies_must_be_a_positive_int(copies):
    with pytest.raises(ValueError, match=f"copies must be an int >= 1, got {copies!r}"):
        sample_masked_copies([5], copies, 0.1, seed=0)


@pytest.mark.parametrize("prob", [0, -0.1, 1.5, "0.1", True])
def test_prob_must_be_in_zero_one(prob):
    with pytest.raises(ValueError, match=r"prob must be in \(0, 1\], got"):
        sample_masked_copies([5], 2, prob, seed=0)

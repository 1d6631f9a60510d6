"""The decoding bookkeeping that the torch and numpy paths share, on hand-made scores."""

import numpy as np
import pytest

from rnnkit.decoding import MINUS_INFINITY, Beams, backtrack

EOS, PAD, VOCAB = 3, 0, 5


def test_an_end_among_the_first_k_finishes_and_the_best_others_live_on():
    beams = Beams(batch=1, width=2, length_penalty=1.0, eos_id=EOS, pad_id=PAD)
    # ranked: beam 0 token 3 (</s>, rank 0), beam 0 token 1, beam 0 token 2
    survivors = beams.advance([[-0.1, -0.5, -0.9]], [[EOS, 1, 2]], VOCAB)
    assert beams.finished == [[(-0.1 / 1, [])]]
    assert survivors == ([0, 0], [1, 2], [-0.5, -0.9])
    assert beams.hypotheses == [[1], [2]]
    assert not beams.done
    # beam 1 ends (rank 1 < K): the second finished hypothesis, and the sentence is done
    survivors = beams.advance([[-1.0, -1.2, -3.0]], [[1 * VOCAB + 4, 1 * VOCAB + EOS, 0]],
                              VOCAB)
    assert beams.finished[0][1] == (-1.2 / 2, [2])
    assert beams.done
    assert beams.best([[-1.0, MINUS_INFINITY]]) == [[]]  # -0.1 beats -0.6


def test_an_end_ranked_past_k_is_dropped_and_missing_rows_are_dead():
    beams = Beams(batch=1, width=2, length_penalty=0.0, eos_id=EOS, pad_id=PAD)
    survivors = beams.advance([[-0.2, MINUS_INFINITY]], [[1, EOS]], VOCAB)
    assert beams.finished == [[]]
    assert survivors == ([0, 0], [1, PAD], [-0.2, MINUS_INFINITY])
    beams.advance([[-0.3, -0.4, -0.5]], [[2, 4, EOS]], VOCAB)  # </s> at rank 2 >= K
    assert beams.finished == [[]]
    assert beams.best([[-0.3, -0.4]]) == [[1, 2]]  # no finished one: the best live one


def test_candidates_are_two_k_or_every_extension_of_a_small_vocabulary():
    beams = Beams(batch=1, width=4, length_penalty=1.0, eos_id=EOS, pad_id=PAD)
    assert beams.candidates(100) == 8
    assert beams.candidates(1) == 4


@pytest.mark.parametrize(("width", "penalty", "message"), [
    (0, 1.0, "beam_width must be >= 1, got 0"),
    (2, -0.5, "length_penalty must be >= 0, got -0.5"),
])
def test_bad_settings_are_refused_naming_the_value(width, penalty, message):
    with pytest.raises(ValueError, match=message):
        Beams(batch=1, width=width, length_penalty=penalty, eos_id=EOS, pad_id=PAD)


def test_backtrack_follows_the_pointers_back_from_each_sequences_own_end():
    # two sequences, three tags, T = 3; pointers[0] is ψ_2, pointers[1] is ψ_3
    pointers = [np.array([[2, 0, 1], [1, 1, 1]]), np.array([[0, 2, 1], [0, 0, 0]])]
    # row 0 (length 3): y_3 = 1, y_2 = ψ_3(1) = 2, y_1 = ψ_2(2) = 1
    # row 1 (length 2): y_2 = 0, y_1 = ψ_2(0) = 1; row 1's ψ_3 is past its end, never read
    assert backtrack([1, 0], pointers, [3, 2]) == [[1, 2, 1], [1, 0]]
    assert backtrack([2], [], [1]) == [[2]]

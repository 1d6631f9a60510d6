"""CRF: the forward algorithm and Viterbi against brute-force enumeration of every path,
padding, and BIO/BIOES constraints."""

import itertools

import pytest
import torch

from rnnkit.models.crf import CRF, allowed_transitions


def _random_crf(num_tags, tags=None, scheme="none", seed=0):
    torch.manual_seed(seed)
    crf = CRF(num_tags, tags, scheme)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_()
    return crf


@torch.no_grad()
def _brute_force(crf, emissions, length):
    """Scores of every path of one sequence, by enumeration."""
    scores = {}
    for path in itertools.product(range(crf.num_tags), repeat=length):
        tags = torch.tensor([path])
        mask = torch.ones(1, length, dtype=torch.bool)
        scores[path] = float(crf.path_score(emissions[None, :length], tags, mask))
    return scores


@pytest.mark.parametrize("num_tags,length", [(1, 3), (2, 1), (3, 4), (4, 3)])
def test_forward_algorithm_equals_brute_force(num_tags, length):
    crf = _random_crf(num_tags)
    emissions = torch.randn(length, num_tags)
    scores = _brute_force(crf, emissions, length)
    expected = torch.logsumexp(torch.tensor(list(scores.values())), dim=0)
    mask = torch.ones(1, length, dtype=torch.bool)
    torch.testing.assert_close(crf.log_partition(emissions[None], mask)[0], expected)


@pytest.mark.parametrize("num_tags,length", [(2, 1), (3, 4), (4, 3)])
def test_viterbi_equals_the_argmax_of_brute_force(num_tags, length):
    for seed in range(3):
        crf = _random_crf(num_tags, seed=seed)
        emissions = torch.randn(length, num_tags)
        scores = _brute_force(crf, emissions, length)
        best = max(scores, key=scores.get)
        mask = torch.ones(1, length, dtype=torch.bool)
        assert crf.decode(emissions[None], mask) == [list(best)]


def test_padded_sequences_match_their_unpadded_selves():
    crf = _random_crf(3)
    emissions = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)
    tags = torch.randint(0, 3, (2, 5))
    short = crf.log_likelihood(emissions[1:, :2], tags[1:, :2], torch.ones(1, 2, dtype=torch.bool))
    torch.testing.assert_close(crf.log_likelihood(emissions, tags, mask)[1], short[0])
    paths = crf.decode(emissions, mask)
    assert len(paths[0]) == 5 and paths[1] == crf.decode(emissions[1:, :2],
                                                         torch.ones(1, 2, dtype=torch.bool))[0]


@torch.no_grad()
def test_likelihoods_of_all_paths_sum_to_one():
    crf = _random_crf(3, ["O", "B-PER", "I-PER"], "BIO")
    emissions = torch.randn(1, 3, 3)
    mask = torch.ones(1, 3, dtype=torch.bool)
    total = sum(float(crf.log_likelihood(emissions, torch.tensor([path]), mask).exp())
                for path in itertools.product(range(3), repeat=3))
    assert total == pytest.approx(1.0, abs=1e-5)


def test_bio_constraints_forbid_an_inside_tag_without_its_begin():
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    allowed, start, end = allowed_transitions(tags, "BIO")
    assert allowed[1, 2] and allowed[2, 2] and not allowed[0, 2] and not allowed[1, 4]
    assert start.tolist() == [True, True, False, True, False] and end.all()
    crf = CRF(5, tags, "BIO")
    emissions = torch.zeros(1, 3, 5)
    emissions[0, :, 2] = 5.0  # I-PER everywhere would win without constraints
    path = crf.decode(emissions, torch.ones(1, 3, dtype=torch.bool))[0]
    assert [tags[index] for index in path] == ["B-PER", "I-PER", "I-PER"]


def test_bioes_constraints():
    tags = ["O", "B-X", "I-X", "E-X", "S-X"]
    allowed, start, end = allowed_transitions(tags, "BIOES")
    assert allowed[1, 2] and allowed[1, 3] and not allowed[1, 0] and not allowed[3, 2]
    assert allowed[3, 0] and allowed[4, 1] and not allowed[0, 3]
    assert start.tolist() == [True, True, False, False, True]
    assert end.tolist() == [True, False, False, True, True]


def test_bad_inputs_are_refused():
    crf = CRF(3)
    with pytest.raises(ValueError, match=r"expected emissions of shape \(B, T, 3\), got \(2, 4\)"):
        crf.log_partition(torch.zeros(2, 4), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one step"):
        crf.decode(torch.zeros(1, 2, 3), torch.tensor([[False, False]]))
    with pytest.raises(ValueError, match="scheme must be one of"):
        CRF(3, ["a", "b", "c"], "IOB1")

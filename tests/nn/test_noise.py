"""Inverted dropout (``rnnkit.nn.noise``): the mask's values, its keep rate, its gradient."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.nn.noise import Dropout, dropout, keep_mask


def test_keep_mask_holds_zero_or_the_inverse_keep_rate_and_keeps_one_minus_p():
    torch.manual_seed(0)
    mask = keep_mask((400, 500), 0.3, torch.empty(0, dtype=torch.float64))
    assert mask.dtype == torch.float64
    assert set(mask.unique().tolist()) == {0.0, 1 / 0.7}
    kept = float((mask > 0).double().mean())
    # 200k Bernoulli(0.7) draws: the standard error of the rate is 0.001
    assert abs(kept - 0.7) < 0.005


def test_dropout_matches_torch_in_mean_and_variance():
    torch.manual_seed(1)
    x = torch.ones(1000, 1000)
    ours, theirs = dropout(x, 0.2), F.dropout(x, 0.2)
    assert abs(float(ours.mean()) - float(theirs.mean())) < 0.01
    assert abs(float(ours.var()) - float(theirs.var())) < 0.01


def test_dropout_gradient_is_the_mask():
    torch.manual_seed(2)
    x = torch.randn(6, 7, requires_grad=True)
    y = dropout(x, 0.5)
    y.backward(torch.ones_like(y))
    mask = torch.where(y != 0, 2.0, 0.0)
    torch.testing.assert_close(x.grad, mask)
    torch.testing.assert_close(y, x.detach() * mask)


def test_dropout_is_the_identity_in_evaluation_and_at_zero_and_drops_all_at_one():
    x = torch.randn(3, 4)
    assert dropout(x, 0.4, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    module = Dropout(0.4).eval()
    assert module(x) is x and repr(module) == "Dropout(p=0.4)"


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_out_of_range_names_p(p):
    with pytest.raises(ValueError, match=f"p must be in \\[0, 1\\], got {p}"):
        dropout(torch.ones(2), p)
    with pytest.raises(ValueError, match=f"Dropout: p must be in \\[0, 1\\], got {p}"):
        Dropout(p)

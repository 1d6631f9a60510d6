"""The fused linear + cross-entropy: torch's loss and gradients, ignore_index, bad input."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models import losses
from rnnkit.models.losses import linear_cross_entropy


def _inputs(rows=7, features=5, classes=11, dtype=torch.float64, bias=True):
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(rows, features, generator=generator, dtype=dtype, requires_grad=True)
    weight = torch.randn(classes, features, generator=generator, dtype=dtype,
                         requires_grad=True)
    bias_ = torch.randn(classes, generator=generator, dtype=dtype,
                        requires_grad=True) if bias else None
    targets = torch.randint(0, classes, (rows,), generator=generator)
    return hidden, weight, bias_, targets


def _loss_and_grads(loss, tensors):
    tensors = [t for t in tensors if t is not None]
    return [loss.detach(), *torch.autograd.grad(loss, tensors)]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("ignored_rows", [[], [0, 3]])
@pytest.mark.parametrize("classes", [11, 16, 33])  # the logits' rows padded, exact, padded
def test_equals_torch_cross_entropy_with_its_gradients(bias, ignored_rows, classes):
    hidden, weight, bias_, targets = _inputs(bias=bias, classes=classes)
    targets[ignored_rows] = -100
    expected = _loss_and_grads(
        F.cross_entropy(F.linear(hidden, weight, bias_), targets, ignore_index=-100),
        (hidden, weight, bias_))
    fused = _loss_and_grads(linear_cross_entropy(hidden, weight, bias_, targets),
                            (hidden, weight, bias_))
    for want, got in zip(expected, fused):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_float32_matches_torch_and_large_logits_stay_finite():
    hidden, weight, bias_, targets = _inputs(dtype=torch.float32)
    with torch.no_grad():
        weight.mul_(100.0)  # logits in the thousands: exp overflows without the max shift
    expected = _loss_and_grads(F.cross_entropy(F.linear(hidden, weight, bias_), targets),
                               (hidden, weight, bias_))
    fused = _loss_and_grads(linear_cross_entropy(hidden, weight, bias_, targets),
                            (hidden, weight, bias_))
    for want, got in zip(expected, fused):
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-4)


def test_custom_ignore_index_and_a_weight_used_twice():
    hidden, weight, bias_, targets = _inputs()
    targets[2] = 0
    shared = weight.clone().detach().requires_grad_(True)  # also used outside the loss
    expected = torch.autograd.grad(
        F.cross_entropy(F.linear(hidden, shared, bias_), targets, ignore_index=0)
        + (shared ** 2).sum(), shared)[0]
    got = torch.autograd.grad(
        linear_cross_entropy(hidden, shared, bias_, targets, ignore_index=0)
        + (shared ** 2).sum(), shared)[0]
    torch.testing.assert_close(got, expected)


def test_all_rows_ignored_gives_nan_as_torch_does():
    hidden, weight, bias_, targets = _inputs()
    targets[:] = -100
    assert torch.isnan(linear_cross_entropy(hidden, weight, bias_, targets))
    assert torch.isnan(F.cross_entropy(F.linear(hidden, weight, bias_), targets))


def test_a_second_backward_through_the_graph_is_refused():
    hidden, weight, bias_, targets = _inputs()
    loss = linear_cross_entropy(hidden, weight, bias_, targets)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backward ran twice"):
        loss.backward()


@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8])
def test_other_integer_targets_count_as_class_indices(dtype):
    hidden, weight, bias_, targets = _inputs()
    torch.testing.assert_close(linear_cross_entropy(hidden, weight, bias_, targets.to(dtype)),
                               linear_cross_entropy(hidden, weight, bias_, targets))


def test_under_autocast_it_computes_the_plain_loss_in_float32():
    hidden, weight, bias_, targets = _inputs(dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = linear_cross_entropy(hidden, weight, bias_, targets)
        expected = F.cross_entropy(F.linear(hidden, weight, bias_), targets)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected)
    loss.backward()  # the fused backward would mix bfloat16 logits with float32 weights
    assert hidden.grad.dtype == torch.float32


def test_bad_shapes_and_float_targets_are_named():
    hidden, weight, bias_, targets = _inputs()
    with pytest.raises(ValueError, match=r"expected hidden \(N, K\) and targets \(N,\), got "
                                         r"\(7, 5\) and \(6,\)"):
        linear_cross_entropy(hidden, weight, bias_, targets[:6])
    with pytest.raises(TypeError, match="targets must be class indices, got torch.float64"):
        linear_cross_entropy(hidden, weight, bias_, targets.double())
    with pytest.raises(TypeError, match="targets must be class indices, got torch.bool"):
        linear_cross_entropy(hidden, weight, bias_, targets > 3)


def test_a_second_derivative_is_refused_with_the_fix():
    hidden = torch.randn(6, 4, requires_grad=True)
    weight = torch.randn(5, 4, requires_grad=True)
    loss = linear_cross_entropy(hidden, weight, None, torch.tensor([0, 1, 2, 3, 4, 0]))
    with pytest.raises(RuntimeError, match="linear_cross_entropy.*F.cross_entropy"):
        torch.autograd.grad(loss, hidden, create_graph=True)


@pytest.mark.parametrize("columns", [1, 15, 16, 10_002])
def test_the_logits_rows_start_on_aligned_offsets(columns):
    buffer = losses._aligned_buffer(3, columns, torch.empty(0))
    assert buffer.is_contiguous() and buffer.shape[0] == 3
    assert buffer.shape[1] % losses.ROW_ALIGNMENT == 0
    assert columns <= buffer.shape[1] < columns + losses.ROW_ALIGNMENT


@pytest.mark.parametrize(("dtype", "offset"), [
    (torch.float32, 1e4), (torch.float64, 1e4),  # p_y is 0
    (torch.float32, 95.0),  # p_y is subnormal in float32: few significant bits left
])
def test_a_row_whose_target_probability_underflows_keeps_its_exact_loss(dtype, offset):
    hidden, weight, bias_, targets = _inputs(dtype=dtype)
    targets[2] = -100  # ignored, and its stand-in class 0 underflows too: not recomputed
    targets[1] = 1 if targets[1] == 0 else targets[1]
    with torch.no_grad():  # p of row 1's target and of class 0: exp(-offset) or less
        bias_[targets[1]] -= offset
        bias_[0] -= offset
    expected = _loss_and_grads(F.cross_entropy(F.linear(hidden, weight, bias_), targets),
                               (hidden, weight, bias_))
    fused = _loss_and_grads(linear_cross_entropy(hidden, weight, bias_, targets),
                            (hidden, weight, bias_))
    assert expected[0] > offset / 6
    for want, got in zip(expected, fused):
        torch.testing.assert_close(got, want)


def test_weights_of_another_dtype_are_named():
    hidden, weight, bias_, targets = _inputs()
    with pytest.raises(TypeError, match="bias is torch.float32 and hidden torch.float64"):
        linear_cross_entropy(hidden, weight, bias_.float(), targets)

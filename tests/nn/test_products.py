"""``RepeatedProduct`` and ``linear`` equal the plain products, packed or not."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.nn.kernels import products

needs_packing = pytest.mark.skipif(not products.PACKING_AVAILABLE,
                                   reason="torch was built without oneDNN")


@pytest.fixture
def pack_everything(monkeypatch):
    for threshold in ("MIN_PACKED_ROWS", "MIN_PACKED_WEIGHT", "SOME_ROWS", "MANY_ROWS"):
        monkeypatch.setattr(products, threshold, 1)


@needs_packing
def test_packs_only_large_float32_products_on_cpu():
    weight = torch.empty(2048, 512)
    assert products.packs(weight, rows=32)
    assert not products.packs(weight, rows=1)  # one row: packing loses at 512 → 512
    assert not products.packs(torch.empty(512, 128), rows=32)  # small weight
    assert not products.packs(weight.double(), rows=32)


@needs_packing
def test_packs_a_single_product_only_for_many_rows():
    weight = torch.empty(2048, 512)
    assert not products.packs_once(weight, rows=128)  # the packing costs more than it saves
    assert products.packs_once(weight, rows=products.SOME_ROWS)
    assert not products.packs_once(torch.empty(512, 128), rows=products.SOME_ROWS)
    assert products.packs_once(torch.empty(512, 128), rows=products.MANY_ROWS)


@needs_packing
@pytest.mark.parametrize("packed", [False, True])
def test_repeated_product_equals_addmm(packed, monkeypatch):
    if packed:
        monkeypatch.setattr(products, "MIN_PACKED_WEIGHT", 1)
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(12, 7, generator=generator)  # (N, K)
    a = torch.randn(20, 7, generator=generator)
    addend = torch.randn(20, 12, generator=generator)
    product = products.RepeatedProduct(weight, rows=20)
    assert (product.packed is not None) == packed
    torch.testing.assert_close(product(a), a @ weight.t())
    torch.testing.assert_close(product(a, addend), addend + a @ weight.t())
    out = torch.empty(20, 12)
    assert product(a, addend, out=out) is out
    torch.testing.assert_close(out, addend + a @ weight.t())
    wide = torch.randn(20, 14, generator=generator)[:, :7]  # a non-contiguous view
    torch.testing.assert_close(product(wide), wide @ weight.t())


@needs_packing
@pytest.mark.parametrize("with_bias", [False, True])
def test_packed_linear_equals_linear_with_gradients(with_bias, pack_everything):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(5, 3, 7, generator=generator, requires_grad=True)  # (T, B, K)
    weight = torch.randn(12, 7, generator=generator, requires_grad=True)
    bias = torch.randn(12, generator=generator, requires_grad=True) if with_bias else None
    leaves = [x, weight] + ([bias] if with_bias else [])
    probe = torch.randn(5, 3, 12, generator=generator)
    expected = F.linear(x, weight, bias)
    expected_grads = torch.autograd.grad((expected * probe).sum(), leaves)
    got = products.linear(x, weight, bias)
    assert got.shape == (5, 3, 12) and got.grad_fn is not None
    got_grads = torch.autograd.grad((got * probe).sum(), leaves)
    torch.testing.assert_close(got, expected)
    for a, b in zip(got_grads, expected_grads):
        torch.testing.assert_close(a, b)


def test_linear_without_packing_is_torch_linear(monkeypatch):
    monkeypatch.setattr(products, "PACKING_AVAILABLE", False)
    x, weight = torch.randn(4, 3), torch.randn(5, 3)
    assert products.linear(x, weight).grad_fn is None
    torch.testing.assert_close(products.linear(x, weight), x @ weight.t())

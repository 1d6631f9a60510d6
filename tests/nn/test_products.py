"""``RepeatedProduct`` and ``linear`` equal the plain products, packed or not."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.nn.kernels import dispatch, products

needs_packing = pytest.mark.skipif(not dispatch.PACKING_AVAILABLE,
                                   reason="torch was built without oneDNN")


def _through_packed_linear(tensor):
    """Whether ``tensor``'s graph has the packed product within its last two nodes."""
    nodes = [tensor.grad_fn, *(node for node, _ in tensor.grad_fn.next_functions)]
    return any("PackedLinear" in type(node).__name__ for node in nodes if node is not None)


@pytest.fixture
def pack_everything(monkeypatch):
    for threshold in ("MIN_PACKED_ROWS", "MIN_PACKED_WEIGHT", "SOME_ROWS", "MANY_ROWS"):
        monkeypatch.setattr(dispatch, threshold, 1)


@needs_packing
def test_packs_only_large_float32_products_on_cpu():
    weight = torch.empty(2048, 512)
    assert dispatch.packs(weight, rows=32)
    assert not dispatch.packs(weight, rows=1)  # below MIN_PACKED_ROWS (one row: ±15 %)
    assert not dispatch.packs(torch.empty(512, 128), rows=32)  # small weight
    assert not dispatch.packs(weight.double(), rows=32)


@needs_packing
def test_packs_a_single_product_only_for_many_rows():
    weight = torch.empty(2048, 512)
    assert not dispatch.packs_once(weight, rows=128)  # the packing costs more than it saves
    assert dispatch.packs_once(weight, rows=dispatch.SOME_ROWS)
    assert not dispatch.packs_once(torch.empty(512, 128), rows=dispatch.SOME_ROWS)
    assert dispatch.packs_once(torch.empty(512, 128), rows=dispatch.MANY_ROWS)


@needs_packing
@pytest.mark.parametrize("packed", [False, True])
def test_repeated_product_equals_addmm(packed, monkeypatch):
    if packed:
        monkeypatch.setattr(dispatch, "MIN_PACKED_WEIGHT", 1)
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(12, 7, generator=generator)  # (N, K)
    a = torch.randn(20, 7, generator=generator)
    addend = torch.randn(20, 12, generator=generator)
    product = products.RepeatedProduct(weight, rows=20)
    assert product.packs == packed
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
    assert got.shape == (5, 3, 12) and _through_packed_linear(got)
    got_grads = torch.autograd.grad((got * probe).sum(), leaves)
    torch.testing.assert_close(got, expected)
    for a, b in zip(got_grads, expected_grads):
        torch.testing.assert_close(a, b)


@needs_packing
def test_linear_without_packing_is_torch_linear(pack_everything, monkeypatch):
    x, weight = torch.randn(4, 3, requires_grad=True), torch.randn(5, 3)
    assert _through_packed_linear(products.linear(x, weight))
    monkeypatch.setattr(dispatch, "PACKING_AVAILABLE", False)
    unpacked = products.linear(x, weight)
    assert not _through_packed_linear(unpacked)
    torch.testing.assert_close(unpacked, x @ weight.t())


@needs_packing
@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")  # torch's flags()
def test_switching_onednn_off_turns_packing_off():
    weight = torch.empty(2048, 512)
    with torch.backends.mkldnn.flags(enabled=False):
        assert not dispatch.packs(weight, rows=32)
        assert not dispatch.packs_once(weight, rows=dispatch.MANY_ROWS)
    assert dispatch.packs(weight, rows=32)


@needs_packing
def test_an_unused_product_packs_nothing():
    product = products.RepeatedProduct(torch.empty(2048, 512), rows=32)
    assert product.packs and product.packed is None
    product(torch.randn(32, 512))
    assert product.packed is not None

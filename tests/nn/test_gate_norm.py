import pytest
import torch

from rnnkit.nn.functional import gate_layer_norm
from rnnkit.nn.kernels import dispatch
from rnnkit.nn.kernels.gate_norm import gate_norm

T, B, G, H = 5, 3, 4, 6


def _inputs(bias: bool, dtype=torch.float32):
    generator = torch.Generator().manual_seed(0)
    pre = torch.randn(T, B, G * H, generator=generator, dtype=dtype).requires_grad_()
    gain = (1 + 0.1 * torch.randn(G * H, generator=generator, dtype=dtype)).requires_grad_()
    shift = torch.randn(G * H, generator=generator, dtype=dtype).requires_grad_() if bias else None
    return pre, gain, shift


@pytest.mark.parametrize("chunk", [1, 2 * G * H, 1 << 16], ids=["row", "two_rows", "all"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_gate_norm_matches_autograd_layer_norm(chunk, bias, monkeypatch):
    monkeypatch.setattr(dispatch, "GATE_NORM_CHUNK_ELEMENTS", chunk)
    pre, gain, shift = _inputs(bias)
    leaves = [t for t in (pre, gain, shift) if t is not None]
    probe = torch.randn(T, B, G * H, generator=torch.Generator().manual_seed(1))
    expected = gate_layer_norm(pre, gain, G, shift)
    got = gate_norm(pre, gain, G, shift)
    torch.testing.assert_close(got, expected)
    for a, b in zip(torch.autograd.grad((expected * probe).sum(), leaves),
                    torch.autograd.grad((got * probe).sum(), leaves)):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_gate_norm_gradcheck_in_float64(monkeypatch):
    monkeypatch.setattr(dispatch, "GATE_NORM_CHUNK_ELEMENTS", 2 * G * H)  # several chunks
    pre, gain, shift = _inputs(True, torch.float64)
    assert torch.autograd.gradcheck(lambda p, g, b: gate_norm(p, g, G, b), (pre, gain, shift))


class _WritesOverItsInput(torch.autograd.Function):
    """What the bptt kernel does with the projection: writes over it and saves it."""

    @staticmethod
    def forward(ctx, x):
        x.mul_(2.0)
        ctx.save_for_backward(x)
        return x.sum(-1)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors  # refused for a saved, overwritten view of a Function's output
        return grad.unsqueeze(-1).expand(x.shape) * 2.0


def test_gate_norm_output_can_be_overwritten_and_saved_by_the_next_function():
    pre, gain, shift = _inputs(True)
    _WritesOverItsInput.apply(gate_norm(pre, gain, G, shift)).sum().backward()
    assert pre.grad is not None and gain.grad is not None


@pytest.mark.parametrize("needs", ["pre", "gain", "bias"])
def test_gate_norm_computes_only_the_gradients_asked_for(needs):
    pre, gain, shift = _inputs(True)
    leaves = {"pre": pre, "gain": gain, "bias": shift}
    for name, leaf in leaves.items():
        leaf.requires_grad_(name == needs)
    expected = torch.autograd.grad(gate_layer_norm(pre, gain, G, shift).square().sum(),
                                   leaves[needs])
    got = torch.autograd.grad(gate_norm(pre, gain, G, shift).square().sum(), leaves[needs])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_gate_norm_sums_the_gain_gradient_in_float32_for_bfloat16(monkeypatch):
    # 4,096 rows: a running sum in bfloat16 (8 bits of mantissa) drifts by several percent
    # there (checked below on the same terms); float32 accumulation stays near bfloat16's
    # rounding of the result. Every input is drawn from a seeded generator.
    monkeypatch.setattr(dispatch, "GATE_NORM_CHUNK_ELEMENTS", 16 * G * H)  # many chunks
    generator = torch.Generator().manual_seed(0)
    pre = torch.randn(64, 64, G * H, generator=generator).to(torch.bfloat16).requires_grad_()
    gain = (1 + 0.1 * torch.randn(G * H, generator=generator)).to(torch.bfloat16)
    probe = torch.randn(64, 64, G * H, generator=generator).to(torch.bfloat16)
    (d_gain,) = torch.autograd.grad((gate_norm(pre, gain.requires_grad_(), G) * probe).sum(), gain)
    exact = pre.detach().double().unflatten(-1, (G, H))
    normed = ((exact - exact.mean(-1, keepdim=True))
              / (exact.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()).flatten(-2)
    terms = probe.double() * normed  # (64, 64, G*H)
    expected = terms.sum((0, 1))

    def relative_error(value):
        return float((value.double() - expected).abs().max() / expected.abs().max())

    bfloat16_sum = torch.zeros(G * H, dtype=torch.bfloat16)
    for row in terms.to(torch.bfloat16).reshape(-1, G * H):
        bfloat16_sum += row
    assert d_gain.dtype == torch.bfloat16
    assert relative_error(bfloat16_sum) > 0.03  # 0.055: the check below tells the two apart
    assert relative_error(d_gain) < 0.01  # 0.003
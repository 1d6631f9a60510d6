import pytest
import torch

from rnnkit.nn.functional import gate_layer_norm
from rnnkit.nn.kernels import gate_norm as gate_norm_module
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
    monkeypatch.setattr(gate_norm_module, "CHUNK_ELEMENTS", chunk)
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
    monkeypatch.setattr(gate_norm_module, "CHUNK_ELEMENTS", 2 * G * H)  # several chunks
    pre, gain, shift = _inputs(True, torch.float64)
    assert torch.autograd.gradcheck(lambda p, g, b: gate_norm(p, g, G, b), (pre, gain, shift))


def test_gate_norm_output_can_be_written_in_place():
    pre, gain, shift = _inputs(True)
    out = gate_norm(pre, gain, G, shift)
    with torch.no_grad():
        out.zero_()  # the bptt kernel writes its gates over the projection
    assert out.shape == pre.shape

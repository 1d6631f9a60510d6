"""The kernels on CUDA: native and bptt equal the reference there, and native is cuDNN.

Skipped with a reason where no CUDA device is present (the default CPU run).
Run directly (``python tests/nn/test_cuda.py``) where pytest is not installed.
"""

import itertools

import pytest
import torch

import rnnkit.nn as rn

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

LAYERS = {"rnn": rn.RNN, "lstm": rn.LSTM, "gru": rn.GRU}
OPTIONS = {
    "default": {},
    "flexible_lstm": {"recurrent_activation": "hard_sigmoid", "layer_norm": True,
                      "recurrent_dropout": 0.25, "peephole": True, "zoneout": 0.2},
    "gru_reset_before": {"reset_after": False, "layer_norm": True, "zoneout": 0.2},
    "rnn_layer_norm": {"layer_norm": True, "recurrent_dropout": 0.3},
}
CASES = [(kind, name) for kind, name in itertools.product(LAYERS, OPTIONS)
         if name == "default" or name.startswith(kind)]


def _run(module, x, lengths):
    torch.manual_seed(3)
    leaf = x.clone().requires_grad_()
    output, state = module(leaf, lengths=lengths)
    states = list(state) if isinstance(state, tuple) else [state]
    loss = output.sin().sum() + sum(s.cos().sum() for s in states)
    grads = torch.autograd.grad(loss, [leaf, *module.parameters()])
    return [output, *states, *grads]


@pytest.mark.parametrize("kind,name", CASES)
def test_kernels_match_the_reference_on_cuda(kind, name):
    option = OPTIONS[name]
    torch.manual_seed(0)
    reference = LAYERS[kind](5, 7, num_layers=2, bidirectional=True, impl="reference",
                             device="cuda", dtype=torch.float64, **option).train()
    impls = ["bptt"] + (["native"] if reference.config.cell.is_torch_standard else [])
    x = torch.randn(6, 3, 5, device="cuda", dtype=torch.float64)
    lengths = torch.tensor([6, 2, 5])
    expected = _run(reference, x, lengths)
    for impl in impls:
        other = LAYERS[kind](5, 7, num_layers=2, bidirectional=True, impl=impl, device="cuda",
                             dtype=torch.float64, **option).train()
        other.load_state_dict(reference.state_dict())
        for a, b in zip(expected, _run(other, x, lengths)):
            torch.testing.assert_close(b, a, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_native_is_cudnn_and_auto_picks_it(kind):
    layer = LAYERS[kind](8, 16, device="cuda")
    assert layer.config.impl == "auto"
    x = torch.randn(5, 4, 8, device="cuda")
    with torch.profiler.profile() as prof:
        layer(x)
    names = {event.name for event in prof.events()}
    assert "aten::_cudnn_rnn" in names, sorted(names)


if __name__ == "__main__":
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    for case in CASES:
        test_kernels_match_the_reference_on_cuda(*case)
        print("ok", *case)
    for kind in LAYERS:
        test_native_is_cudnn_and_auto_picks_it(kind)
        print("ok cudnn", kind)

"""The bptt kernel's compiled time loops (``rnnkit.nn.kernels.fused_loop``) for the GRU and the
vanilla RNN: equal to the reference loop in outputs and every gradient, gradcheck in float64,
served exactly where documented, and a quiet fallback to the Python loop when they cannot be
built. Each parity test records the compiled calls it made, so it cannot pass on the Python loop.
"""

import warnings

import pytest
import torch

import rnnkit.nn as rn
from rnnkit.nn import kernels
from rnnkit.nn.kernels import choose_impl, fused_loop

T, I, H = 6, 5, 7
TOLERANCE = 1e-5
LAYERS = {"rnn": rn.RNN, "gru": rn.GRU}
SERVED = [
    ("rnn", {}), ("rnn", {"activation": "relu"}), ("rnn", {"bias": False}),
    ("gru", {}), ("gru", {"reset_after": False}), ("gru", {"bias": False}),
    ("gru", {"reset_after": False, "bias": False}),
    ("gru", {"input_dropout": 0.3, "weight_drop": 0.3}),  # both act outside the loop
]

needs_compiled = pytest.mark.skipif(
    fused_loop.module() is None,
    reason=f"the compiled loops are unavailable here: {fused_loop.unavailable_reason()}")


class _Recorder:
    """Stands in for the compiled module and records which of its loops ran."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def __getattr__(self, name):
        function = getattr(self.real, name)

        def call(*arguments):
            self.calls.append(name)
            return function(*arguments)
        return call


@pytest.fixture
def recorder(monkeypatch):
    spy = _Recorder(fused_loop.module())
    monkeypatch.setattr(fused_loop, "module", lambda: spy)
    return spy


def _pair(kind, option, bidirectional=True, dtype=torch.float32):
    torch.manual_seed(0)
    reference = LAYERS[kind](I, H, num_layers=2, bidirectional=bidirectional,
                             impl="reference", dtype=dtype, **option)
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.uniform_(-0.6, 0.6)
    fast = LAYERS[kind](I, H, num_layers=2, bidirectional=bidirectional, impl="bptt",
                        dtype=dtype, **option)
    fast.load_state_dict(reference.state_dict())
    return reference, fast


def _run(layer, x, h_0):
    x, h_0 = x.clone().requires_grad_(), h_0.clone().requires_grad_()
    torch.manual_seed(11)  # the same input-dropout and weight-drop masks for both
    output, h_n = layer(x, h_0)
    probe = torch.Generator().manual_seed(3)
    loss = (output * torch.randn(output.shape, generator=probe)).sum()
    loss = loss + (h_n * torch.randn(h_n.shape, generator=probe)).sum()
    return output, h_n, torch.autograd.grad(loss, [x, h_0, *layer.parameters()])


@needs_compiled
@pytest.mark.parametrize("batch", [1, 3, fused_loop.MAX_BATCH])
@pytest.mark.parametrize(("kind", "option"), SERVED, ids=[f"{k}-{o}" for k, o in SERVED])
def test_compiled_loops_match_the_reference(kind, option, batch, recorder):
    reference, fast = _pair(kind, option)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(T, batch, I, generator=generator)
    h_0 = torch.randn(4, batch, H, generator=generator)
    out_a, h_a, grads_a = _run(reference, x, h_0)
    out_b, h_b, grads_b = _run(fast, x, h_0)
    assert recorder.calls.count(f"{kind}_forward") == 4  # 2 layers × 2 directions
    assert recorder.calls.count(f"{kind}_backward") == 4
    torch.testing.assert_close(out_b, out_a, rtol=TOLERANCE, atol=TOLERANCE)
    torch.testing.assert_close(h_b, h_a, rtol=TOLERANCE, atol=TOLERANCE)
    for a, b in zip(grads_a, grads_b, strict=True):
        atol = TOLERANCE * max(1.0, float(a.abs().max()))
        torch.testing.assert_close(b, a, rtol=TOLERANCE, atol=atol)


@needs_compiled
@pytest.mark.parametrize(("kind", "option"), SERVED[:7], ids=[f"{k}-{o}" for k, o in SERVED[:7]])
def test_compiled_loops_pass_gradcheck_in_float64(kind, option, recorder):
    _, layer = _pair(kind, option, bidirectional=False, dtype=torch.float64)
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(4, 2, I, dtype=torch.float64, generator=generator, requires_grad=True)
    h_0 = torch.randn(2, 2, H, dtype=torch.float64, generator=generator, requires_grad=True)
    names = [name for name, _ in layer.named_parameters()]

    def function(x, h_0, *parameters):
        state = dict(zip(names, parameters, strict=True))
        output, h_n = torch.func.functional_call(layer, state, (x, h_0))
        return output, h_n

    assert torch.autograd.gradcheck(function, (x, h_0, *layer.parameters()))
    assert f"{kind}_backward" in recorder.calls


@needs_compiled
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_nan_in_the_input_stays_nan(activation, recorder):
    reference, fast = _pair("rnn", {"activation": activation}, bidirectional=False)
    x = torch.randn(T, 2, I)
    x[2, 1, 0] = float("nan")
    with torch.no_grad():
        expected, _ = reference(x)
        got, _ = fast(x)
    assert recorder.calls
    assert torch.equal(got.isnan(), expected.isnan()) and got.isnan().any()


@needs_compiled
@pytest.mark.parametrize(("kind", "option", "call"), [
    ("rnn", {"layer_norm": True}, {}),
    ("rnn", {"activation": "softsign"}, {}),
    ("rnn", {"zoneout": 0.2}, {}),
    ("gru", {"recurrent_dropout": 0.3}, {}),
    ("gru", {"recurrent_activation": "hard_sigmoid"}, {}),
    ("gru", {}, {"lengths": torch.tensor([6, 3])}),
    ("gru", {}, {"batch": fused_loop.MAX_BATCH + 1}),
    ("gru", {}, {"dtype": torch.bfloat16}),
    ("lstm", {}, {}),
])
def test_the_python_loop_runs_what_the_compiled_loops_do_not_serve(kind, option, call,
                                                                     recorder):
    layer_type = {"rnn": rn.RNN, "gru": rn.GRU, "lstm": rn.LSTM}[kind]
    dtype = call.get("dtype", torch.float32)
    layer = layer_type(I, H, impl="bptt", dtype=dtype, **option).train()
    x = torch.randn(T, call.get("batch", 2), I, dtype=dtype)
    output, _ = layer(x, lengths=call.get("lengths"))
    output.sum().backward()
    assert recorder.calls == []


def test_without_the_compiled_loops_bptt_runs_its_python_loop(monkeypatch):
    monkeypatch.setattr(fused_loop, "_loaded", {"module": None})
    monkeypatch.setattr(fused_loop, "_reason", ["a test said so"])
    assert fused_loop.unavailable_reason() == "a test said so"
    reference, fast = _pair("gru", {})
    x, h_0 = torch.randn(T, 1, I), torch.randn(4, 1, H)
    out_a, h_a, grads_a = _run(reference, x, h_0)
    out_b, h_b, grads_b = _run(fast, x, h_0)
    torch.testing.assert_close(out_b, out_a, rtol=TOLERANCE, atol=TOLERANCE)
    torch.testing.assert_close(h_b, h_a, rtol=TOLERANCE, atol=TOLERANCE)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(b, a, rtol=TOLERANCE, atol=TOLERANCE)


def test_the_environment_variable_skips_compiling(monkeypatch):
    monkeypatch.setenv("RNNKIT_NO_COMPILE", "1")
    monkeypatch.setattr(fused_loop, "_loaded", {})
    monkeypatch.setattr(fused_loop, "_reason", [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # deciding not to compile is not worth a warning
        assert fused_loop.module() is None
    assert "RNNKIT_NO_COMPILE" in fused_loop.unavailable_reason()


def test_a_failed_build_warns_once_and_falls_back(monkeypatch, tmp_path):
    from torch.utils import cpp_extension

    def broken_build(**_):
        raise RuntimeError("Error building extension 'rnnkit_fused_loop'\nno compiler here")

    monkeypatch.delenv("RNNKIT_NO_COMPILE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cpp_extension, "load", broken_build)
    monkeypatch.setattr(fused_loop, "_loaded", {})
    monkeypatch.setattr(fused_loop, "_reason", [])
    with pytest.warns(RuntimeWarning, match="could not be compiled.*no compiler here"):
        assert fused_loop.module() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fused_loop.module() is None  # asked again: no second attempt, no second warning
    assert not fused_loop.serves(rn.GRU(I, H).config.cell, "cpu", torch.float32, 1, True)


@needs_compiled
@pytest.mark.parametrize("kind", ["gru", "rnn"])
def test_auto_runs_the_compiled_loops_for_small_batch_inference(kind, monkeypatch):
    monkeypatch.setattr(kernels, "FUSED_INFERENCE_MAX_BATCH", 4)
    config = LAYERS[kind](8, 128).config
    assert choose_impl(config, "auto", False, "cpu", False, 1) == "bptt"
    assert choose_impl(config, "auto", False, "cpu", False, 4) == "bptt"
    assert choose_impl(config, "auto", False, "cpu", False, 5) == "native"
    assert choose_impl(config, "auto", False, "cpu", False, 1, has_lengths=True) == "native"
    assert choose_impl(config, "auto", False, "cpu", False, 1, torch.float16) == "native"
    assert choose_impl(config, "auto", False, "cuda", False, 1) == "native"
    assert choose_impl(rn.LSTM(8, 128).config, "auto", False, "cpu", False, 1) == "native"

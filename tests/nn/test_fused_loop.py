"""The bptt kernel's compiled time loops (``rnnkit.nn.kernels.fused_loop``) for the vanilla RNN,
the GRU and the LSTM: equal to the reference loop in outputs and every gradient, gradcheck in float64,
served exactly where documented, and a quiet fallback to the Python loop when they cannot be
built. Each parity test records the compiled calls it made, so it cannot pass on the Python loop.
"""

import warnings

import pytest
import torch

import rnnkit.nn as rn
from rnnkit.nn.kernels import choose_impl, dispatch, fused_loop

T, I, H = 6, 5, 7
TOLERANCE = 1e-5
LAYERS = {"rnn": rn.RNN, "gru": rn.GRU, "lstm": rn.LSTM}
FLEXIBLE = {"recurrent_activation": "hard_sigmoid", "layer_norm": True, "recurrent_dropout": 0.25}
SERVED = [
    ("rnn", {}), ("rnn", {"activation": "relu"}), ("rnn", {"bias": False}),
    ("gru", {}), ("gru", {"reset_after": False}), ("gru", {"bias": False}),
    ("gru", {"reset_after": False, "bias": False}),
    ("lstm", {}), ("lstm", FLEXIBLE), ("lstm", {"layer_norm": True, "bias": False}),
    ("lstm", {"recurrent_activation": "hard_sigmoid_v2", "recurrent_dropout": 0.3}),
    ("lstm", {"recurrent_activation": "hard_sigmoid", "layer_norm": True}),
    ("lstm", {"recurrent_activation": "hard_sigmoid_v2"}),
    ("gru", {"input_dropout": 0.3, "weight_drop": 0.3}),  # both act outside the loop
    ("lstm", {"input_dropout": 0.3, "weight_drop": 0.3, "unit_forget_bias": True}),
]
DETERMINISTIC = [case for case in SERVED if "input_dropout" not in case[1]
                 and "recurrent_dropout" not in case[1]]

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


def _pair(kind, option, bidirectional=True, dtype=torch.float32, hidden=H):
    torch.manual_seed(0)
    reference = LAYERS[kind](I, hidden, num_layers=2, bidirectional=bidirectional,
                             impl="reference", dtype=dtype, **option)
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.uniform_(-0.6, 0.6)
    fast = LAYERS[kind](I, hidden, num_layers=2, bidirectional=bidirectional, impl="bptt",
                        dtype=dtype, **option)
    fast.load_state_dict(reference.state_dict())
    return reference, fast


def _state(kind, count, batch, generator, dtype=torch.float32, hidden=H):
    """A random initial state: ``h_0``, or ``(h_0, c_0)`` for the LSTM; each (count, B, H)."""
    return [torch.randn(count, batch, hidden, generator=generator, dtype=dtype)
            for _ in range(2 if kind == "lstm" else 1)]


def _run(layer, x, state, lengths=None):
    x = x.clone().requires_grad_()
    state = [tensor.clone().requires_grad_() for tensor in state]
    torch.manual_seed(11)  # the same dropout and weight-drop masks for both kernels
    hx = tuple(state) if len(state) == 2 else (state[0] if state else None)
    output, final = layer(x, hx, lengths=lengths)
    finals = list(final) if isinstance(final, tuple) else [final]
    probe = torch.Generator().manual_seed(3)
    loss = (output * torch.randn(output.shape, generator=probe)).sum()
    for tensor in finals:
        loss = loss + (tensor * torch.randn(tensor.shape, generator=probe)).sum()
    return [output, *finals], torch.autograd.grad(loss, [x, *state, *layer.parameters()])


def _assert_same(run_a, run_b):
    (values_a, grads_a), (values_b, grads_b) = run_a, run_b
    for a, b in zip(values_a, values_b, strict=True):
        torch.testing.assert_close(b, a, rtol=TOLERANCE, atol=TOLERANCE)
    for a, b in zip(grads_a, grads_b, strict=True):
        atol = TOLERANCE * max(1.0, float(a.abs().max()))  # summed gradients reach tens
        torch.testing.assert_close(b, a, rtol=TOLERANCE, atol=atol)


@needs_compiled
@pytest.mark.parametrize("hidden", [H, 8], ids=["H7", "H8"])  # 7: the product's 4-row tail
@pytest.mark.parametrize("batch", [1, 3, dispatch.COMPILED_MAX_BATCH])
@pytest.mark.parametrize(("kind", "option"), SERVED, ids=[f"{k}-{o}" for k, o in SERVED])
def test_compiled_loops_match_the_reference(kind, option, batch, hidden, recorder):
    reference, fast = _pair(kind, option, hidden=hidden)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(T, batch, I, generator=generator)
    state = _state(kind, 4, batch, generator, hidden=hidden)
    run_a, run_b = _run(reference, x, state), _run(fast, x, state)
    assert recorder.calls.count(f"{kind}_forward") == 4  # 2 layers × 2 directions
    assert recorder.calls.count(f"{kind}_backward") == 4
    _assert_same(run_a, run_b)


@needs_compiled
@pytest.mark.parametrize(("kind", "option"), SERVED, ids=[f"{k}-{o}" for k, o in SERVED])
def test_compiled_loops_with_variable_lengths_match_the_reference(kind, option, recorder):
    # Ended sequences keep their state; both directions of both layers see the lengths.
    reference, fast = _pair(kind, option)
    generator = torch.Generator().manual_seed(6)
    lengths = torch.tensor([T, 3, 1, 5])
    x = torch.randn(T, 4, I, generator=generator)
    state = _state(kind, 4, 4, generator)
    run_a, run_b = _run(reference, x, state, lengths), _run(fast, x, state, lengths)
    assert recorder.calls.count(f"{kind}_forward") == recorder.calls.count(f"{kind}_backward") == 4
    _assert_same(run_a, run_b)


@needs_compiled
@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_auto_inference_with_lengths_runs_the_compiled_loops_as_torch_would(kind, recorder):
    # A small batch of different lengths: auto picks the compiled loops, and the output is
    # torch.nn's on the packed batch (zero past each length).
    torch.manual_seed(0)
    ours = LAYERS[kind](I, H, bidirectional=True).eval()
    theirs = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU}[kind](I, H, bidirectional=True)
    theirs.load_state_dict(ours.state_dict())
    lengths = torch.tensor([T, 3, 1, 5])
    x = torch.randn(T, 4, I)
    with torch.no_grad():
        got, h_n = ours(x, lengths=lengths)
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        output, expected_h_n = theirs(packed)
        expected, _ = torch.nn.utils.rnn.pad_packed_sequence(output, total_length=T)
    assert recorder.calls.count(f"{kind}_forward") == 2  # one per direction
    torch.testing.assert_close(got, expected, rtol=TOLERANCE, atol=TOLERANCE)
    torch.testing.assert_close(h_n, expected_h_n, rtol=TOLERANCE, atol=TOLERANCE)


@needs_compiled
@pytest.mark.parametrize("option", [{}, FLEXIBLE], ids=["standard", "flexible"])
def test_the_lstm_loop_serves_any_batch(option, recorder):
    reference, fast = _pair("lstm", option)
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(T, 3 * dispatch.COMPILED_MAX_BATCH, I, generator=generator)
    state = _state("lstm", 4, x.shape[1], generator)
    run_a, run_b = _run(reference, x, state), _run(fast, x, state)
    assert recorder.calls.count("lstm_backward") == 4
    _assert_same(run_a, run_b)


@needs_compiled
@pytest.mark.parametrize(("kind", "option"), DETERMINISTIC,
                         ids=[f"{k}-{o}" for k, o in DETERMINISTIC])
def test_compiled_loops_pass_gradcheck_in_float64(kind, option, recorder):
    _, layer = _pair(kind, option, bidirectional=False, dtype=torch.float64)
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(4, 2, I, dtype=torch.float64, generator=generator, requires_grad=True)
    state = [tensor.requires_grad_() for tensor in _state(kind, 2, 2, generator, torch.float64)]
    names = [name for name, _ in layer.named_parameters()]

    def function(x, *tensors):
        hx = tuple(tensors[:len(state)]) if kind == "lstm" else tensors[0]
        parameters = dict(zip(names, tensors[len(state):], strict=True))
        output, final = torch.func.functional_call(layer, parameters, (x, hx))
        return (output, *final) if kind == "lstm" else (output, final)

    assert torch.autograd.gradcheck(function, (x, *state, *layer.parameters()))
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
    ("gru", {}, {"batch": dispatch.COMPILED_MAX_BATCH + 1}),
    ("gru", {}, {"dtype": torch.bfloat16}),
    ("lstm", {"proj_size": 3}, {}),
    ("lstm", {"peephole": True}, {}),
    ("lstm", {"zoneout": 0.2}, {}),
    ("lstm", {"activation": "softsign"}, {}),
    ("lstm", {}, {"hidden": 256}),  # W_hh of LSTM_COMPILED_MAX_WEIGHT elements
])
def test_the_python_loop_runs_what_the_compiled_loops_do_not_serve(kind, option, call,
                                                                     recorder):
    layer_type = {"rnn": rn.RNN, "gru": rn.GRU, "lstm": rn.LSTM}[kind]
    dtype = call.get("dtype", torch.float32)
    layer = layer_type(I, call.get("hidden", H), impl="bptt", dtype=dtype, **option).train()
    x = torch.randn(T, call.get("batch", 2), I, dtype=dtype)
    output, _ = layer(x, lengths=call.get("lengths"))
    output.sum().backward()
    assert recorder.calls == []


def test_without_the_compiled_loops_bptt_runs_its_python_loop(monkeypatch):
    from rnnkit.nn.kernels import bptt_gru, bptt_lstm

    monkeypatch.setattr(fused_loop, "_loaded", {"module": None})
    monkeypatch.setattr(fused_loop, "_reason", ["a test said so"])
    for module in (bptt_gru, bptt_lstm):
        monkeypatch.setattr(module, "_forward_compiled",
                            lambda *args: pytest.fail("a compiled loop ran"))
    assert fused_loop.unavailable_reason() == "a test said so"
    for kind, option in (("gru", {}), ("lstm", FLEXIBLE)):
        reference, fast = _pair(kind, option)
        x, state = torch.randn(T, 1, I), _state(kind, 4, 1, torch.Generator().manual_seed(5))
        _assert_same(_run(reference, x, state), _run(fast, x, state))


def test_the_environment_variable_skips_compiling(monkeypatch):
    monkeypatch.setenv("RNNKIT_NO_COMPILE", "1")
    monkeypatch.setattr(fused_loop, "_loaded", {})
    monkeypatch.setattr(fused_loop, "_reason", [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # deciding not to compile is not worth a warning
        assert fused_loop.module() is None
    assert "RNNKIT_NO_COMPILE" in fused_loop.unavailable_reason()


def test_a_failed_build_warns_once_and_falls_back(monkeypatch, tmp_path, capsys):
    from torch.utils import cpp_extension

    def broken_build(**_):
        raise RuntimeError("Error building extension 'rnnkit_fused_loop'\nno compiler here")

    monkeypatch.delenv("RNNKIT_NO_COMPILE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cpp_extension, "load", broken_build)
    monkeypatch.setattr(fused_loop, "_loaded", {})
    monkeypatch.setattr(fused_loop, "_reason", [])
    with pytest.warns(RuntimeWarning, match="could not be built.*no compiler here"):
        assert fused_loop.module() is None
    assert "compiling the recurrent time loops" in capsys.readouterr().err  # nothing built yet
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fused_loop.module() is None  # asked again: no second attempt, no second warning
    assert not dispatch.compiled_loops_serve(rn.GRU(I, H).config.cell, "cpu", torch.float32, 1,
                                 masked=False, zoneout=False, norm_hh=False)


@needs_compiled
@pytest.mark.parametrize("kind", ["gru", "rnn"])
def test_auto_runs_the_compiled_loops_for_small_batch_inference(kind, monkeypatch):
    monkeypatch.setattr(dispatch, "FUSED_INFERENCE_MAX_BATCH", 4)
    config = LAYERS[kind](8, 128).config
    assert choose_impl(config, "auto", False, "cpu", False, 1) == "bptt"
    assert choose_impl(config, "auto", False, "cpu", False, 4) == "bptt"
    assert choose_impl(config, "auto", False, "cpu", False, 5) == "native"
    assert choose_impl(config, "auto", False, "cpu", False, 4, has_lengths=True) == "bptt"
    assert choose_impl(config, "auto", False, "cpu", False, 5, has_lengths=True) == "native"
    assert choose_impl(config, "auto", False, "cpu", False, 1, torch.float16) == "native"
    assert choose_impl(config, "auto", False, "cuda", False, 1) == "native"
    assert choose_impl(rn.LSTM(8, 128).config, "auto", False, "cpu", False, 1) == "native"


@needs_compiled
@pytest.mark.parametrize(("kind", "option"), [("rnn", {}), ("gru", {"reset_after": False}),
                                              ("lstm", FLEXIBLE)], ids=["rnn", "gru", "lstm"])
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])  # train: dropout masks
def test_inference_without_autograd_matches_the_reference(kind, option, train, recorder):
    # Without autograd the per-step buffers are one reused step ((1, B, ·)).
    reference, fast = _pair(kind, option)
    reference.train(train), fast.train(train)
    x = torch.randn(T, 2, I)
    with torch.no_grad():
        torch.manual_seed(5)
        expected, _ = reference(x)
        torch.manual_seed(5)
        got, _ = fast(x)
    assert recorder.calls.count(f"{kind}_forward") == 4
    torch.testing.assert_close(got, expected, rtol=TOLERANCE, atol=TOLERANCE)


@needs_compiled
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_one_step_without_an_initial_state_matches_the_reference(kind, recorder):
    reference, fast = _pair(kind, FLEXIBLE if kind == "lstm" else {})
    x = torch.randn(1, 2, I)
    run_a, run_b = _run(reference, x, []), _run(fast, x, [])
    assert f"{kind}_backward" in recorder.calls
    _assert_same(run_a, run_b)


@needs_compiled
def test_strided_lengths_and_parameters_are_served(recorder):
    lengths = torch.tensor([[T, 9], [3, 9]])[:, 0]  # a strided view, as a slice of a batch
    for kind, option in (("gru", {}), ("lstm", {"layer_norm": True})):
        reference, fast = _pair(kind, option, bidirectional=False)
        x = torch.randn(T, 2, I)
        strided = {name: torch.stack((value, value), dim=-1)[..., 0]
                   for name, value in fast.state_dict().items() if value.dim() == 1}
        assert all(not value.is_contiguous() for value in strided.values())
        expected, _ = reference(x, lengths=lengths)
        got, _ = torch.func.functional_call(fast, strided, (x,), {"lengths": lengths})
        torch.testing.assert_close(got, expected, rtol=TOLERANCE, atol=TOLERANCE)
    assert recorder.calls.count("gru_forward") == recorder.calls.count("lstm_forward") == 2


@needs_compiled
def test_float32_tanh_and_sigmoid_are_within_a_few_ulp_of_torchs():
    # The compiled loops compute e^x by a polynomial (so they vectorise); with W_hh = 0 a step's
    # output is the activation of its input, here over [-100, 100], tiny values, ±inf and NaN.
    values = torch.cat([torch.linspace(-100, 100, 400_000), torch.logspace(-30, 1, 1000),
                        -torch.logspace(-30, 1, 1000),
                        torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"),
                                      3.0, -3.0, 0.625])])
    x = values.view(1, -1, 8).contiguous()  # (T=1, B, H=8): every value one pre-activation
    h_all = torch.zeros(2, x.shape[1], 8)
    fused_loop.module().rnn_forward(x, h_all, torch.zeros(8, 8), False, None)
    gates = torch.cat([x, x, x], dim=-1).contiguous()  # r, z, n blocks all get the values
    gru_h = torch.zeros(2, x.shape[1], 8)
    fused_loop.module().gru_forward(gates, gru_h, torch.zeros(24, 8), None,
                                    torch.empty(1, x.shape[1], 8), True, None)
    ulp = torch.finfo(torch.float32).eps
    for got, expected in ((h_all[1], torch.tanh(x[0])), (gates[0, :, :8], torch.sigmoid(x[0]))):
        assert torch.equal(got.isnan(), expected.isnan())
        finite = expected.isfinite()
        assert float((got - expected)[finite].abs().max()) <= 2 * ulp
        significant = finite & (expected.abs() > 1e-30)
        relative = ((got - expected).abs() / expected.abs())[significant & (x[0].abs() < 80)]
        assert float(relative.max()) <= 4 * ulp


def test_the_build_key_differs_with_the_cpu(monkeypatch):
    # -march=native builds for this CPU: a home directory shared with another machine must
    # not load this build there.
    here = fused_loop.build_key(b"int x;")
    monkeypatch.setattr(fused_loop, "_cpu_signature", lambda: b"flags : sse2")
    assert fused_loop.build_key(b"int x;") != here


def test_the_build_key_changes_with_the_source_text():
    source = fused_loop._SOURCE.read_bytes()
    assert fused_loop.build_key(source) != fused_loop.build_key(source + b"\n// changed\n")
    assert fused_loop.build_key(b"int x;") != fused_loop.build_key(b"int y;")


def test_two_checkouts_of_one_source_compile_the_same_staged_file(monkeypatch, tmp_path):
    # The build's commands name the file they compile: two checkouts compiling their own
    # copies would rebuild each other's build. Both compile the one copy in the build folder.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = fused_loop._SOURCE.read_bytes()
    staged = []
    for checkout in ("first", "second"):
        copy = tmp_path / checkout / "fused_loop.cpp"
        copy.parent.mkdir()
        copy.write_bytes(source)
        monkeypatch.setattr(fused_loop, "_SOURCE", copy)
        staged.append(fused_loop.staged_source())
    assert staged[0] == staged[1] and staged[0].read_bytes() == source
    assert staged[0].parent.name == f"rnnkit_fused_loop-{fused_loop.build_key(source)}"
    changed = tmp_path / "changed.cpp"
    changed.write_bytes(source + b"\n// changed\n")
    monkeypatch.setattr(fused_loop, "_SOURCE", changed)
    assert fused_loop.staged_source().parent != staged[0].parent
    assert sorted(path.name for path in staged[0].parent.iterdir()) == ["fused_loop.cpp"]


@needs_compiled
def test_other_python_threads_run_while_a_compiled_loop_does():
    import threading
    import time

    steps, hidden = 300_000, 32  # a loop of several hundredths of a second
    x_proj, h_all = torch.randn(steps, 1, hidden), torch.zeros(steps + 1, 1, hidden)
    w_hh, loops, stamps, window = torch.zeros(hidden, hidden), fused_loop.module(), [], []

    def run():
        window.append(time.perf_counter())
        loops.rnn_forward(x_proj, h_all, w_hh, False, None)
        window.append(time.perf_counter())

    worker = threading.Thread(target=run)
    worker.start()
    while worker.is_alive():
        stamps.append(time.perf_counter())
    worker.join()
    start, end = window
    inside = [stamp for stamp in stamps if start < stamp < end]
    # Holding the GIL, the call would leave this thread at most one switch interval (5 ms),
    # when the call returns; released, this thread runs all along.
    assert inside and inside[-1] - inside[0] > 0.5 * (end - start)


def test_the_ninja_package_is_put_on_path_when_none_is_there(monkeypatch, tmp_path):
    import shutil

    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("ninja") is None
    fused_loop.ninja_on_path()
    assert shutil.which("ninja") is not None

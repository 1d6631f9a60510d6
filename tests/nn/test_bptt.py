"""The bptt kernel equals the reference loop: outputs, final states and every gradient.

A seeded sweep over cell kind × options × layers {1, 2} × bidirectional × lengths × initial
state, in float32 (1e-5, relative to each tensor's largest entry when that exceeds 1: summed
gradients such as a layer-norm gain's reach tens, and float32 rounding scales with them); both
kernels draw the same masks from the same seed, so the
stochastic options are compared in training mode too. gradcheck of the bptt path in float64
lives in ``test_gradcheck.py``; parity with torch.nn in ``test_torch_parity.py``.
"""

import itertools
import random

import pytest
import torch

import rnnkit.nn as rn
from rnnkit.nn.activations import ACTIVATIONS
from rnnkit.nn.kernels import bptt_common, dispatch

T, B, I, H = 5, 3, 4, 6
LENGTHS = torch.tensor([5, 2, 4])
TOLERANCE = 1e-5
LAYERS = {"rnn": rn.RNN, "lstm": rn.LSTM, "gru": rn.GRU}
OPTIONS = {
    "default": {},
    "hard_sigmoid": {"recurrent_activation": "hard_sigmoid"},
    "hard_sigmoid_v2": {"recurrent_activation": "hard_sigmoid_v2"},
    "relu": {"activation": "relu"},
    "softsign": {"activation": "softsign"},
    "linear": {"activation": "linear"},
    "layer_norm": {"layer_norm": True},
    "zoneout": {"zoneout": 0.3},
    "zoneout_pair": {"zoneout": (0.2, 0.4)},
    "recurrent_dropout": {"recurrent_dropout": 0.3},
    "input_dropout": {"input_dropout": 0.3},
    "weight_drop": {"weight_drop": 0.3},
    "projection": {"proj_size": 3},
    "peephole": {"peephole": True},
    "reset_before": {"reset_after": False},
    "no_bias": {"bias": False},
    "flexible": {"recurrent_activation": "hard_sigmoid", "layer_norm": True,
                 "recurrent_dropout": 0.25},
    "everything_lstm": {"layer_norm": True, "zoneout": (0.2, 0.3), "recurrent_dropout": 0.2,
                        "input_dropout": 0.2, "weight_drop": 0.2, "proj_size": 2,
                        "peephole": True, "activation": "softsign"},
    "everything_gru": {"layer_norm": True, "zoneout": 0.2, "recurrent_dropout": 0.2,
                       "reset_after": False, "recurrent_activation": "hard_sigmoid"},
    "reset_after_layer_norm_dropout": {"layer_norm": True, "recurrent_dropout": 0.3,
                                       "zoneout": 0.1, "bias": False},
}
APPLIES = {"recurrent_activation": ("lstm", "gru"), "proj_size": ("lstm",),
           "peephole": ("lstm",), "reset_after": ("gru",)}


def _applies(kind, option):
    if isinstance(option.get("zoneout"), tuple) and kind != "lstm":
        return False
    return all(kind in APPLIES.get(key, (kind,)) for key in option)


ALL_CASES = [
    (kind, name, layers, bidirectional, with_lengths, with_state, train)
    for kind, name, layers, bidirectional, with_lengths, with_state, train in itertools.product(
        LAYERS, OPTIONS, (1, 2), (False, True), (False, True), (False, True), (True, False))
    if _applies(kind, OPTIONS[name])
]
# The default run checks every (kind, option) pair in a few random structural settings; the
# slow run checks the whole product.
QUICK = sorted(random.Random(5).sample(ALL_CASES, 160))


def _ids(case):
    kind, name, layers, bidirectional, with_lengths, with_state, train = case
    return (f"{kind}-{name}-L{layers}-{'bi' if bidirectional else 'uni'}"
            f"{'-lengths' if with_lengths else ''}{'-state' if with_state else ''}"
            f"-{'train' if train else 'eval'}")


def _pair(kind, option, layers, bidirectional):
    torch.manual_seed(0)
    reference = LAYERS[kind](I, H, num_layers=layers, bidirectional=bidirectional,
                             impl="reference", **option)
    with torch.no_grad():  # peephole and layer-norm parameters start at 0/1: shake them
        for parameter in reference.parameters():
            parameter.uniform_(-0.6, 0.6)
    fast = LAYERS[kind](I, H, num_layers=layers, bidirectional=bidirectional, impl="bptt",
                        **option)
    fast.load_state_dict(reference.state_dict())
    return reference, fast


def _run(module, x, hx, lengths, train):
    module.train(train)
    x_leaf = x.clone().requires_grad_()
    leaves = [] if hx is None else [t.clone().requires_grad_() for t in hx]
    state_in = None if hx is None else (tuple(leaves) if len(leaves) == 2 else leaves[0])
    torch.manual_seed(11)  # same masks for both kernels
    output, state = module(x_leaf, state_in, lengths=lengths)
    states = list(state) if isinstance(state, tuple) else [state]
    probe = torch.Generator().manual_seed(3)
    loss = (output * torch.randn(output.shape, generator=probe)).sum()
    for tensor in states:
        loss = loss + (tensor * torch.randn(tensor.shape, generator=probe)).sum()
    grads = torch.autograd.grad(loss, [x_leaf, *leaves, *module.parameters()])
    return output, states, grads


def _check(kind, name, layers, bidirectional, with_lengths, with_state, train):
    option = OPTIONS[name]
    reference, fast = _pair(kind, option, layers, bidirectional)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(T, B, I, generator=generator)
    hx = None
    if with_state:
        count = layers * (2 if bidirectional else 1)
        out_size = option.get("proj_size", 0) or H
        hx = [torch.randn(count, B, out_size, generator=generator)]
        if kind == "lstm":
            hx.append(torch.randn(count, B, H, generator=generator))
    lengths = LENGTHS if with_lengths else None
    out_a, states_a, grads_a = _run(reference, x, hx, lengths, train)
    out_b, states_b, grads_b = _run(fast, x, hx, lengths, train)
    torch.testing.assert_close(out_b, out_a, rtol=TOLERANCE, atol=TOLERANCE)
    for a, b in zip(states_a, states_b):
        torch.testing.assert_close(b, a, rtol=TOLERANCE, atol=TOLERANCE)
    names = ["input"] + [f"hx[{i}]" for i in range(len(hx or []))]
    names += [n for n, _ in reference.named_parameters()]
    assert len(names) == len(grads_a) == len(grads_b)
    for label, a, b in zip(names, grads_a, grads_b):
        atol = TOLERANCE * max(1.0, float(a.abs().max()))
        torch.testing.assert_close(b, a, rtol=TOLERANCE, atol=atol,
                                   msg=lambda m, n=label: f"{n}: {m}")


@pytest.mark.parametrize("case", QUICK, ids=[_ids(c) for c in QUICK])
def test_bptt_matches_reference(case):
    _check(*case)


@pytest.mark.slow
@pytest.mark.parametrize("case", ALL_CASES, ids=[_ids(c) for c in ALL_CASES])
def test_bptt_matches_reference_full_sweep(case):
    _check(*case)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_every_option_is_in_the_quick_sweep(kind):
    covered = {name for k, name, *_ in QUICK if k == kind}
    wanted = {name for name, option in OPTIONS.items() if _applies(kind, option)}
    missing = wanted - covered
    assert len(missing) <= 2, f"quick sweep misses {sorted(missing)} for {kind}"


@pytest.mark.parametrize("kind", list(LAYERS))
def test_inference_without_autograd_matches_training_graph(kind):
    torch.manual_seed(0)
    layer = LAYERS[kind](I, H, num_layers=2, bidirectional=True, impl="bptt", layer_norm=True,
                         zoneout=0.2).eval()
    x = torch.randn(T, B, I)
    with torch.no_grad():
        fast_out, _ = layer(x, lengths=LENGTHS)
    graph_out, _ = layer(x, lengths=LENGTHS)
    assert graph_out.requires_grad and not fast_out.requires_grad
    torch.testing.assert_close(fast_out, graph_out)


@pytest.mark.parametrize("layer", [
    lambda: rn.LSTM(I, H, impl="bptt", layer_norm=True, peephole=True),
    lambda: rn.GRU(I, H, impl="bptt"),
], ids=["lstm", "gru"])
def test_bptt_backward_twice_with_retain_graph(layer):
    torch.manual_seed(0)
    layer = layer()
    output, _ = layer(torch.randn(T, B, I))
    loss = output.square().sum()
    first = torch.autograd.grad(loss, list(layer.parameters()), retain_graph=True)
    second = torch.autograd.grad(loss, list(layer.parameters()))
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b)


def test_gates_overwrite_the_projection_only_when_kept_for_the_backward():
    projection = torch.randn(T, B, 4 * H)
    assert bptt_common.gate_buffer(projection, save=True) is projection
    scratch = bptt_common.gate_buffer(projection, save=False)
    assert scratch.shape == projection.shape and scratch.data_ptr() != projection.data_ptr()
    strided = torch.randn(T, 4 * H, B).transpose(1, 2)  # (T, B, 4H), not contiguous
    assert bptt_common.gate_buffer(strided, save=True).data_ptr() != strided.data_ptr()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_a_training_call_leaves_the_callers_input_as_it_was(kind):
    torch.manual_seed(0)
    x = torch.randn(T, B, H, requires_grad=True)
    before = x.detach().clone()
    layer = LAYERS[kind](H, H, impl="bptt")
    layer(x)[0].sum().backward()
    torch.testing.assert_close(x.detach(), before, rtol=0, atol=0)


def test_forced_bptt_refuses_return_gates():
    with pytest.raises(ValueError, match="impl='bptt' cannot serve this call.*impl='auto'"):
        rn.GRU(I, H, impl="bptt")(torch.randn(T, B, I), return_gates=True)


def test_auto_returns_gates_through_the_reference():
    _, _, gates = rn.GRU(I, H, layer_norm=True)(torch.randn(T, B, I), return_gates=True)
    assert list(gates["l0"]) == ["r", "z", "n", "h"]


PACKED_CASES = [
    (kind, name, 2, True, True, True, True)
    for kind in LAYERS
    for name in ("default", "layer_norm", "flexible", "projection", "everything_lstm",
                 "everything_gru", "reset_before")
    if _applies(kind, OPTIONS[name])
]


@pytest.mark.skipif(not dispatch.PACKING_AVAILABLE, reason="torch was built without oneDNN")
@pytest.mark.parametrize("case", PACKED_CASES, ids=[_ids(c) for c in PACKED_CASES])
def test_bptt_with_packed_products_matches_reference(case, monkeypatch):
    for threshold in ("MIN_PACKED_ROWS", "MIN_PACKED_WEIGHT", "SOME_ROWS", "MANY_ROWS"):
        monkeypatch.setattr(dispatch, threshold, 1)  # pack every product, even these tiny ones
    assert dispatch.packs(torch.empty(4 * H, H), B) and dispatch.packs_once(torch.empty(1, 1), 1)
    _check(*case)


CHUNKED_CASES = [
    (kind, name, 2, True, True, True, True)
    for kind in ("lstm", "rnn")  # the cells whose W_hh gradient goes through the norm's chunks
    for name in ("layer_norm", "flexible", "everything_lstm")
    if _applies(kind, OPTIONS[name])
]


@pytest.mark.parametrize("rows", [1, 2 * B, 100 * B])
@pytest.mark.parametrize("case", CHUNKED_CASES, ids=[_ids(c) for c in CHUNKED_CASES])
def test_bptt_layer_norm_gradient_in_chunks_matches_reference(case, rows, monkeypatch):
    # T = 5 steps: a product per step (one row is under a step), chunks of 2 + 2 + 1 steps,
    # and one chunk of all steps.
    monkeypatch.setattr(dispatch, "NORM_CHUNK_ROWS", rows)
    monkeypatch.setattr(dispatch, "NORM_CHUNK_MIN_WEIGHT", 1)
    _check(*case)


TANH_CASES = [
    (kind, name, 2, True, True, True, train)
    for kind in LAYERS
    for name in ("default", "flexible", "peephole", "projection", "zoneout", "everything_gru",
                 "reset_before", "relu")
    for train in (True, False)
    if _applies(kind, OPTIONS[name])
]


@pytest.mark.parametrize("case", TANH_CASES, ids=[_ids(c) for c in TANH_CASES])
def test_bptt_with_tanh_through_sigmoid_matches_reference(case, monkeypatch):
    monkeypatch.setattr(dispatch, "TANH_BY_SIGMOID_MIN", 1)  # every tanh, even these tiny ones
    _check(*case)


def test_tanh_through_sigmoid_is_tanh_within_float32_rounding(monkeypatch):
    monkeypatch.setattr(dispatch, "TANH_BY_SIGMOID_MIN", 1)
    x = torch.linspace(-12.0, 12.0, 4001)
    torch.testing.assert_close(bptt_common.tanh_into(x, torch.empty_like(x)), torch.tanh(x),
                               rtol=0, atol=3e-7)
    in_place = x.clone()
    bptt_common.tanh_into(in_place, in_place)
    torch.testing.assert_close(in_place, torch.tanh(x), rtol=0, atol=3e-7)
    for dtype in (torch.float64, torch.bfloat16, torch.float16):  # torch's own tanh there
        other = x.to(dtype)
        assert torch.equal(bptt_common.tanh_into(other, torch.empty_like(other)), torch.tanh(other))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_times_grad_equals_factor_times_grad_from_output(name):
    activation = ACTIVATIONS[name]
    x = torch.cat((torch.linspace(-6.0, 6.0, 97), torch.tensor([0.0, 3.0, -3.0, 2.5, -2.5])))
    y, factor = activation(x.double()), torch.randn(x.shape, dtype=torch.float64)
    expected = factor * activation.grad_from_output(y)
    torch.testing.assert_close(bptt_common.times_grad(activation, factor, y), expected,
                               rtol=0, atol=1e-15)
    out = torch.empty_like(y)
    bptt_common.times_grad(activation, factor, y, out=out)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-15)


PYTHON_LOOP_CASES = [
    (kind, name, 2, True, False, True, train)
    for kind in LAYERS
    for name in ("default", "relu", "hard_sigmoid", "hard_sigmoid_v2", "layer_norm",
                 "recurrent_dropout", "flexible", "reset_before", "no_bias", "weight_drop")
    for train in (True, False)
    if _applies(kind, OPTIONS[name])
]


@pytest.mark.parametrize("case", PYTHON_LOOP_CASES, ids=[_ids(c) for c in PYTHON_LOOP_CASES])
def test_bptt_python_loop_matches_reference_where_the_compiled_loops_would_run(case,
                                                                                monkeypatch):
    # The sweep above runs these configurations through the compiled loops (fused_loop) when
    # they are available; the Python loop still serves every larger layer.
    monkeypatch.setattr(dispatch, "compiled_loops_serve", lambda *args, **kwargs: False)
    _check(*case)

"""Parity with torch.nn: same weights in, same outputs, final states and gradients out.

The matrix covers RNN (tanh, relu), LSTM (with and without proj_size) and GRU over
num_layers {1, 2} × bidirectional × batch_first × input form (unbatched, batched, batched with
lengths against torch's PackedSequence) × with/without an initial state, in float32 (1e-5)
and float64 (1e-10), for each kernel.
"""

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit.nn as rn

T, B, I, H, P = 5, 3, 4, 6, 3
LENGTHS = torch.tensor([5, 2, 4])  # unsorted on purpose
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}

VARIANTS = {
    "rnn_tanh": (rn.RNN, torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (rn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (rn.LSTM, torch.nn.LSTM, {}),
    "lstm_proj": (rn.LSTM, torch.nn.LSTM, {"proj_size": P}),
    "gru": (rn.GRU, torch.nn.GRU, {}),
}


def _pair(variant, num_layers, bidirectional, batch_first, dtype, impl):
    ours_cls, torch_cls, kwargs = VARIANTS[variant]
    common = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                  dtype=dtype, **kwargs)
    reference = torch_cls(I, H, **common)
    ours = ours_cls(I, H, impl=impl, **common)
    ours.load_state_dict(reference.state_dict())
    return ours, reference


def _initial_state(variant, layers, batch_shape, dtype, generator):
    out_size = P if variant == "lstm_proj" else H
    h = torch.randn(layers, *batch_shape, out_size, dtype=dtype, generator=generator)
    if not variant.startswith("lstm"):
        return h
    return h, torch.randn(layers, *batch_shape, H, dtype=dtype, generator=generator)


def _leaves(state):
    return list(state) if isinstance(state, tuple) else [state]


def _loss(output, state, generator):
    total = (output * torch.randn(output.shape, dtype=output.dtype, generator=generator)).sum()
    for tensor in _leaves(state):
        probe = torch.randn(tensor.shape, dtype=tensor.dtype, generator=generator)
        total = total + (tensor * probe).sum()
    return total


def _run_torch(module, x, hx, form, batch_first):
    if form != "lengths":
        return module(x, hx)
    packed = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
    output, state = module(packed, hx)
    output, _ = pad_packed_sequence(output, batch_first=batch_first, total_length=T)
    return output, state


MATRIX = list(itertools.product(
    VARIANTS, (1, 2), (False, True), (False, True), ("unbatched", "batched", "lengths"),
    (False, True),
))


@pytest.mark.parametrize("impl", ["reference", "native", "bptt"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(
    "variant,num_layers,bidirectional,batch_first,form,with_state", MATRIX,
    ids=["-".join(map(str, case)) for case in MATRIX],
)
def test_matches_torch_nn(variant, num_layers, bidirectional, batch_first, form, with_state,
                          dtype, impl):
    generator = torch.Generator().manual_seed(1234)
    ours, reference = _pair(variant, num_layers, bidirectional, batch_first, dtype, impl)
    if form == "unbatched":
        shape, batch_shape = (T, I), ()
    else:
        shape, batch_shape = ((B, T, I) if batch_first else (T, B, I)), (B,)
    x = torch.randn(shape, dtype=dtype, generator=generator)
    layers = num_layers * (2 if bidirectional else 1)
    hx = _initial_state(variant, layers, batch_shape, dtype, generator) if with_state else None

    results = []
    for module, run in ((ours, "ours"), (reference, "torch")):
        x_leaf = x.clone().requires_grad_()
        hx_leaves = None if hx is None else [t.clone().requires_grad_() for t in _leaves(hx)]
        hx_in = None if hx_leaves is None else (
            tuple(hx_leaves) if len(hx_leaves) == 2 else hx_leaves[0]
        )
        if run == "ours":
            output, state = module(x_leaf, hx_in, lengths=LENGTHS if form == "lengths" else None)
        else:
            output, state = _run_torch(module, x_leaf, hx_in, form, batch_first)
        loss = _loss(output, state, torch.Generator().manual_seed(99))
        inputs = [x_leaf, *(hx_leaves or []), *module.parameters()]
        grads = torch.autograd.grad(loss, inputs)
        results.append((output, _leaves(state), grads))

    (out_a, state_a, grads_a), (out_b, state_b, grads_b) = results
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(out_a, out_b, rtol=tol, atol=tol)
    for a, b in zip(state_a, state_b):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    names = ["input"] + [f"h_0/c_0[{i}]" for i in range(0 if hx is None else len(_leaves(hx)))]
    names += [name for name, _ in ours.named_parameters()]
    for name, a, b in zip(names, grads_a, grads_b):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("impl", ["reference", "native", "bptt"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_packed_sequence_in_and_out(variant, impl):
    ours, reference = _pair(variant, 2, True, False, torch.float64, impl)
    x = torch.randn(T, B, I, dtype=torch.float64)
    packed = pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
    out_ours, state_ours = ours(packed)
    out_ref, state_ref = reference(packed)
    assert isinstance(out_ours, torch.nn.utils.rnn.PackedSequence)
    torch.testing.assert_close(out_ours.data, out_ref.data, rtol=1e-10, atol=1e-10)
    assert torch.equal(out_ours.batch_sizes, out_ref.batch_sizes)
    assert torch.equal(out_ours.unsorted_indices, out_ref.unsorted_indices)
    for a, b in zip(_leaves(state_ours), _leaves(state_ref)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_state_dict_loads_into_torch(variant):
    ours_cls, torch_cls, kwargs = VARIANTS[variant]
    ours = ours_cls(I, H, num_layers=2, bidirectional=True, **kwargs)
    reference = torch_cls(I, H, num_layers=2, bidirectional=True, **kwargs)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I)
    torch.testing.assert_close(ours(x)[0], reference(x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_default_initialisation_draws_torchs_numbers(variant):
    ours_cls, torch_cls, kwargs = VARIANTS[variant]
    torch.manual_seed(7)
    ours = ours_cls(I, H, num_layers=2, bidirectional=True, **kwargs)
    torch.manual_seed(7)
    reference = torch_cls(I, H, num_layers=2, bidirectional=True, **kwargs)
    assert list(ours.state_dict()) == list(reference.state_dict())
    for name, value in reference.state_dict().items():
        assert torch.equal(ours.state_dict()[name], value), name


def test_seed_example_verbatim():
    rnn = rn.RNN(10, 20)
    input = torch.randn(5, 3, 10)
    h0 = torch.randn(1, 3, 20)
    output, hn = rnn(input, h0)
    assert output.shape == (5, 3, 20)
    assert hn.shape == (1, 3, 20)
    assert torch.all(output[-1] == hn)


@pytest.mark.parametrize("cell", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch_nn(cell, batched):
    ours, reference = getattr(rn, cell)(I, H, dtype=torch.float64), getattr(torch.nn, cell)(
        I, H, dtype=torch.float64
    )
    ours.load_state_dict(reference.state_dict())
    x = torch.randn((B, I) if batched else (I,), dtype=torch.float64)
    shape = (B, H) if batched else (H,)
    hx = torch.randn(shape, dtype=torch.float64)
    if cell == "LSTMCell":
        hx = (hx, torch.randn(shape, dtype=torch.float64))
    a, b = ours(x, hx), reference(x, hx)
    for left, right in zip(_leaves(a), _leaves(b)):
        torch.testing.assert_close(left, right, rtol=1e-10, atol=1e-10)

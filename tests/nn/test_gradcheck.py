"""torch.autograd.gradcheck in float64 for every cell and layer option.

Layers are checked with ``impl="auto"`` and with the bptt kernel forced (its hand-written
backward is what gradcheck tests there); peephole weights start at zero, so they are drawn.

Gradients are checked with respect to the input, the initial state and every parameter.
Stochastic options are checked in training mode with the random seed fixed inside the
checked function, so every evaluation draws the same masks.
"""

import pytest
import torch
from torch.func import functional_call

import rnnkit.nn as rn

OPTIONS = {
    "default": {},
    "hard_sigmoid": {"recurrent_activation": "hard_sigmoid"},
    "hard_sigmoid_v2": {"recurrent_activation": "hard_sigmoid_v2"},
    "relu": {"activation": "relu"},
    "softsign": {"activation": "softsign"},
    "layer_norm": {"layer_norm": True},
    "unit_forget_bias": {"unit_forget_bias": True},
    "reset_before": {"reset_after": False},
    "reset_before_layer_norm": {"reset_after": False, "layer_norm": True},
    "projection": {"proj_size": 2},
    "no_bias": {"bias": False},
    "zoneout_eval": {"zoneout": 0.3},
    "peephole": {"peephole": True},
    "peephole_layer_norm_projection": {"peephole": True, "layer_norm": True, "proj_size": 2},
}
STOCHASTIC = {
    "zoneout_train": {"zoneout": 0.3},
    "recurrent_dropout": {"recurrent_dropout": 0.3},
    "input_dropout": {"input_dropout": 0.3},
    "weight_drop": {"weight_drop": 0.3},
}
APPLIES = {
    "recurrent_activation": ("lstm", "gru"), "unit_forget_bias": ("lstm",),
    "reset_after": ("gru",), "proj_size": ("lstm",), "peephole": ("lstm",),
}
LAYERS = {"rnn": rn.RNN, "lstm": rn.LSTM, "gru": rn.GRU}
CELLS = {"rnn": rn.RNNCell, "lstm": rn.LSTMCell, "gru": rn.GRUCell}


def _cases(cell_level):
    for kind in LAYERS:
        for train, options in ((False, OPTIONS), (True, STOCHASTIC)):
            for name, option in options.items():
                applies = all(kind in APPLIES.get(key, (kind,)) for key in option)
                if applies and not (cell_level and "proj_size" in option):
                    yield pytest.param(kind, option, train, id=f"{kind}-{name}")


def _check(module, inputs, train):
    names = [name for name, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]
    module.train(train)

    def fn(*tensors):
        torch.manual_seed(0)
        arguments, weights = tensors[: len(inputs)], tensors[len(inputs):]
        result = functional_call(module, dict(zip(names, weights)), arguments)
        leaves = []
        for item in result if isinstance(result, tuple) else (result,):
            leaves += list(item) if isinstance(item, tuple) else [item]
        return tuple(leaves)

    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    assert torch.autograd.gradcheck(fn, (*leaves, *params), eps=1e-6, atol=1e-5)


def _layer_inputs(kind, module):
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    directions = 2 if module.bidirectional else 1
    out = module.config.cell.output_size
    h = torch.randn(directions, 2, out, dtype=torch.float64) * 0.5
    if kind == "lstm":
        return x, (h, torch.randn(directions, 2, module.hidden_size, dtype=torch.float64))
    return x, h


def _draw_peepholes(module):
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.startswith("weight_c"):
                parameter.uniform_(-0.5, 0.5)


@pytest.mark.parametrize("impl", ["auto", "bptt"])
@pytest.mark.parametrize("kind,option,train", list(_cases(cell_level=False)))
def test_layer_gradcheck(kind, option, train, impl):
    torch.manual_seed(0)
    module = LAYERS[kind](3, 4, bidirectional=True, dtype=torch.float64, impl=impl, **option)
    _draw_peepholes(module)
    x, hx = _layer_inputs(kind, module)
    if kind == "lstm":
        wrapped = _LSTMState(module)
        _check(wrapped, (x, *hx), train)
    else:
        _check(module, (x, hx), train)


@pytest.mark.parametrize("kind,option,train", list(_cases(cell_level=True)))
def test_cell_gradcheck(kind, option, train):
    torch.manual_seed(0)
    module = CELLS[kind](3, 4, dtype=torch.float64, **option)
    _draw_peepholes(module)
    x = torch.randn(2, 3, dtype=torch.float64)
    h = torch.randn(2, 4, dtype=torch.float64)
    if kind == "lstm":
        _check(_LSTMState(module), (x, h, torch.randn(2, 4, dtype=torch.float64)), train)
    else:
        _check(module, (x, h), train)


@pytest.mark.parametrize("impl", ["reference", "bptt"])
def test_layer_gradcheck_with_lengths(impl):
    torch.manual_seed(0)
    module = rn.LSTM(3, 4, num_layers=2, bidirectional=True, layer_norm=True, peephole=True,
                     zoneout=0.2, dtype=torch.float64, impl=impl)
    _draw_peepholes(module)
    lengths = torch.tensor([4, 2])
    _check(_LSTMState(module, lengths), (torch.randn(4, 2, 3, dtype=torch.float64),), False)


class _LSTMState(torch.nn.Module):
    """Adapts ``(x, h, c)`` positional tensors to an LSTM module's ``(x, (h, c))`` call."""

    def __init__(self, inner, lengths=None):
        super().__init__()
        self.inner = inner
        self.lengths = lengths

    def forward(self, x, h=None, c=None):
        state = None if h is None else (h, c)
        if isinstance(self.inner, rn.LSTMCell):
            return self.inner(x, state)
        return self.inner(x, state, lengths=self.lengths)

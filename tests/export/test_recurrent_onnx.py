"""ONNX export of the recurrent layers: onnxruntime (CPU) against the PyTorch eval forward.

Every variant is exported once and run at batch sizes and lengths no export saw: one
sequence of one step, a batch whose lengths all differ and are unsorted, and a batch padded
past its longest sequence. ``output``, ``h_n`` and ``c_n`` must agree within 1e-5 (float32;
relative to the largest value where that exceeds 1: with unbounded activations such as
``linear`` an LSTM's states reach hundreds, where float32 itself carries 1e-5), and outputs
past each length must be exactly zero. Layer norm over a few units magnifies rounding; the
seeds here sit inside the tolerance (see RESULTS, "ONNX export accuracy"). Parameters are seeded, then perturbed from
their initial values so that peephole weights (zeros at first) and layer-norm gains (ones)
matter.

rnnkit has no built-in activation outside ONNX's list (each maps to an ONNX function, see
``rnnkit.export.activations``); every one of them is run through both the ONNX operator and
the ``Scan`` path instead.
"""

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra (onnxruntime) is not installed")

import rnnkit.nn as rn
from rnnkit.export import GraphBuilder, add_recurrent, layer_to_onnx, needs_scan
from rnnkit.export.recurrent import numpy_weights
from rnnkit.export.scan import add_cell_step
from rnnkit.nn.activations import ACTIVATIONS, Activation

TOLERANCE = 1e-5
I, H = 3, 4
# (lengths, padded steps): batch 1 of length 1; all different and unsorted; padded past all.
BATCHES = [([1], 1), ([5, 2, 4, 1, 3], 5), ([2, 3], 6)]

VARIANTS = {
    "rnn_tanh": lambda: rn.RNN(I, H),
    "rnn_relu": lambda: rn.RNN(I, H, nonlinearity="relu"),
    "lstm": lambda: rn.LSTM(I, H),
    "gru_reset_after": lambda: rn.GRU(I, H),
    "gru_reset_before": lambda: rn.GRU(I, H, reset_after=False),
    "rnn_bi2": lambda: rn.RNN(I, H, num_layers=2, bidirectional=True, nonlinearity="relu"),
    "lstm_bi2": lambda: rn.LSTM(I, H, num_layers=2, bidirectional=True),
    "gru_bi2": lambda: rn.GRU(I, H, num_layers=2, bidirectional=True),
    "gru_reset_before_bi2": lambda: rn.GRU(I, H, num_layers=2, bidirectional=True,
                                           reset_after=False),
    "lstm_hard_sigmoid": lambda: rn.LSTM(I, H, recurrent_activation="hard_sigmoid"),
    "gru_hard_sigmoid_v2": lambda: rn.GRU(I, H, recurrent_activation="hard_sigmoid_v2"),
    # alpha/beta lists [1/6, 1, 1, 1/6, 1, 1] and [1/2, 0, 0, 1/2, 0, 0], consumed in order
    "lstm_hard_sigmoid_linear_bi": lambda: rn.LSTM(I, H, recurrent_activation="hard_sigmoid",
                                                   activation="linear", bidirectional=True),
    "lstm_peephole_bi": lambda: rn.LSTM(I, H, peephole=True, bidirectional=True),
    "lstm_layer_norm_bi2": lambda: rn.LSTM(I, H, num_layers=2, bidirectional=True,
                                           layer_norm=True),
    "gru_layer_norm": lambda: rn.GRU(I, H, layer_norm=True),
    "gru_reset_before_layer_norm_bi": lambda: rn.GRU(I, H, layer_norm=True, reset_after=False,
                                                     bidirectional=True),
    "rnn_layer_norm": lambda: rn.RNN(I, H, layer_norm=True),
    "lstm_projection_bi2": lambda: rn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=2),
    "lstm_zoneout_peephole": lambda: rn.LSTM(I, H, zoneout=(0.2, 0.3), peephole=True),
    "gru_zoneout_bi": lambda: rn.GRU(I, H, zoneout=0.25, bidirectional=True),
    "rnn_zoneout": lambda: rn.RNN(I, H, zoneout=0.1),
    "lstm_no_bias_bi": lambda: rn.LSTM(I, H, bias=False, bidirectional=True),
    "gru_no_bias_layer_norm": lambda: rn.GRU(I, H, bias=False, layer_norm=True),
    "gru_batch_first_bi": lambda: rn.GRU(I, H, batch_first=True, bidirectional=True),
    "lstm_projection_batch_first": lambda: rn.LSTM(I, H, batch_first=True, proj_size=3),
    "lstm_go_backwards_bi2": lambda: rn.LSTM(I, H, num_layers=2, bidirectional=True,
                                             go_backwards=True),
    "gru_go_backwards_zoneout": lambda: rn.GRU(I, H, go_backwards=True, zoneout=0.2),
    "lstm_go_backwards_projection_bi2": lambda: rn.LSTM(I, H, num_layers=2, bidirectional=True,
                                                        go_backwards=True, proj_size=3),
}
VARIANTS |= {
    f"rnn_{name}": (lambda name=name: rn.RNN(I, H, activation=name)) for name in ACTIVATIONS
}
VARIANTS |= {
    f"lstm_layer_norm_{name}": (lambda name=name: rn.LSTM(I, H, layer_norm=True,
                                                          recurrent_activation=name,
                                                          activation=name))
    for name in ACTIVATIONS
}


def _build(make, seed: int = 0) -> rn.RecurrentLayer:
    """``make()`` with seeded initial weights, perturbed, in eval mode."""
    torch.manual_seed(seed)
    return _perturbed(make(), seed)


def _perturbed(layer: rn.RecurrentLayer, seed: int) -> rn.RecurrentLayer:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))
    return layer.eval()


def _session(model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def _inputs(layer, lengths, steps, generator):
    config, cell = layer.config, layer.config.cell
    batch, states = len(lengths), config.num_layers * config.num_directions
    shape = (batch, steps, cell.input_size) if config.batch_first else (steps, batch,
                                                                        cell.input_size)
    x = torch.randn(shape, generator=generator)
    h_0 = torch.randn(states, batch, cell.output_size, generator=generator)
    c_0 = torch.randn(states, batch, cell.hidden_size, generator=generator)
    return x, h_0, (c_0 if cell.kind == "lstm" else None)


def _assert_close(got: np.ndarray, expected: torch.Tensor, what: str) -> None:
    assert got.shape == tuple(expected.shape), what
    expected = expected.numpy()
    difference = float(np.abs(got - expected).max())
    scale = max(1.0, float(np.abs(expected).max()))
    assert difference <= TOLERANCE * scale, f"{what}: max abs difference {difference:.2e}"


def _assert_zero_past_lengths(output: np.ndarray, lengths: list[int], batch_first: bool):
    time_major = output.swapaxes(0, 1) if batch_first else output  # (T, B, ·)
    for index, length in enumerate(lengths):
        assert not time_major[length:, index].any(), f"sequence {index} past {length}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_onnxruntime_matches_the_eval_forward(variant):
    layer = _build(VARIANTS[variant])
    session = _session(layer_to_onnx(layer))
    generator = torch.Generator().manual_seed(1)
    for lengths, steps in BATCHES:
        x, h_0, c_0 = _inputs(layer, lengths, steps, generator)
        feeds = {"x": x.numpy(), "lengths": np.array(lengths, dtype=np.int64),
                 "h_0": h_0.numpy()}
        with torch.no_grad():
            if c_0 is None:
                output, h_n = layer(x, h_0, lengths=lengths)
                expected = {"output": output, "h_n": h_n}
            else:
                feeds["c_0"] = c_0.numpy()
                output, (h_n, c_n) = layer(x, (h_0, c_0), lengths=lengths)
                expected = {"output": output, "h_n": h_n, "c_n": c_n}
        got = dict(zip(expected, session.run(list(expected), feeds)))
        for name, value in expected.items():
            _assert_close(got[name], value, f"{variant} {name} at lengths {lengths}")
        _assert_zero_past_lengths(got["output"], lengths, layer.config.batch_first)


def _graph_without_states(layer, with_lengths=True):
    """A graph of ``layer`` through ``add_recurrent`` with ``h_0``/``c_0`` left out (and
    ``lengths`` too unless ``with_lengths``)."""
    cell = layer.config.cell
    builder = GraphBuilder("no_states")
    x = builder.input("x", np.float32, ("time", "batch", cell.input_size))
    lengths = builder.input("lengths", np.int64, ("batch",)) if with_lengths else None
    result = add_recurrent(builder, layer, x, lengths)
    states = layer.config.num_layers * layer.config.num_directions
    features = layer.config.num_directions * cell.output_size
    builder.output(result.output, "output", np.float32, ("time", "batch", features))
    builder.output(result.h_n, "h_n", np.float32, (states, "batch", cell.output_size))
    if result.c_n is not None:
        builder.output(result.c_n, "c_n", np.float32, (states, "batch", cell.hidden_size))
    return builder.to_model()


@pytest.mark.parametrize("make", [
    lambda: rn.LSTM(I, H, bidirectional=True),
    lambda: rn.LSTM(I, H, bidirectional=True, proj_size=2),
    lambda: rn.GRU(I, H, layer_norm=True, num_layers=2),
], ids=["lstm_operator", "lstm_scan", "gru_scan"])
def test_omitted_initial_states_are_zeros(make):
    layer = _build(make)
    session = _session(_graph_without_states(layer))
    lengths = [3, 1, 2]
    x = torch.randn(3, 3, I, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        output, state = layer(x, lengths=lengths)
    expected = [output, *state] if isinstance(state, tuple) else [output, state]
    got = session.run(None, {"x": x.numpy(), "lengths": np.array(lengths, dtype=np.int64)})
    for name, value, result in zip(("output", "h_n", "c_n"), expected, got):
        _assert_close(result, value, name)


@pytest.mark.parametrize("make", [
    lambda: rn.GRU(I, H, bidirectional=True, go_backwards=True),
    lambda: rn.LSTM(I, H, bidirectional=True, zoneout=0.1),
], ids=["operator", "scan"])
def test_omitted_lengths_are_full_lengths(make):
    layer = _build(make)
    session = _session(_graph_without_states(layer, with_lengths=False))
    x = torch.randn(3, 2, I, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        output, state = layer(x)
    expected = [output, *state] if isinstance(state, tuple) else [output, state]
    for name, value, result in zip(("output", "h_n", "c_n"), expected,
                                   session.run(None, {"x": x.numpy()})):
        _assert_close(result, value, name)


def test_training_only_options_export_as_the_identity():
    """Dropout between layers, input and recurrent dropout and weight drop vanish in eval,
    and the graph is the eval forward even of a layer left in training mode."""
    options = {"dropout": 0.5, "input_dropout": 0.3, "recurrent_dropout": 0.3,
               "weight_drop": 0.4}
    layer = _build(lambda: rn.LSTM(I, H, num_layers=2, **options)).train()
    session = _session(layer_to_onnx(layer))
    x = torch.randn(4, 2, I, generator=torch.Generator().manual_seed(3))
    zeros = torch.zeros(2, 2, H)
    with torch.no_grad():
        output, (h_n, c_n) = layer.eval()(x, lengths=[4, 2])
    got = session.run(None, {"x": x.numpy(), "lengths": np.array([4, 2], dtype=np.int64),
                             "h_0": zeros.numpy(), "c_0": zeros.numpy()})
    for name, value, result in zip(("output", "h_n", "c_n"), (output, h_n, c_n), got):
        _assert_close(result, value, name)


@pytest.mark.parametrize(("make", "operator"), [
    (lambda: rn.LSTM(I, H, peephole=True, recurrent_activation="hard_sigmoid"), "LSTM"),
    (lambda: rn.GRU(I, H, reset_after=False, bias=False), "GRU"),
    (lambda: rn.RNN(I, H, activation="softsign", go_backwards=True), "RNN"),
    (lambda: rn.LSTM(I, H, layer_norm=True), "Scan"),
    (lambda: rn.LSTM(I, H, proj_size=2), "Scan"),
    (lambda: rn.GRU(I, H, zoneout=0.1), "Scan"),
], ids=["lstm", "gru", "rnn", "layer_norm", "projection", "zoneout"])
def test_the_operator_is_used_unless_the_cell_needs_a_scan(make, operator):
    layer = make()
    ops = {node.op_type for node in layer_to_onnx(layer).graph.node}
    assert operator in ops
    assert needs_scan(layer.config.cell) == (operator == "Scan")
    assert not ({"RNN", "GRU", "LSTM", "Scan"} - {operator}) & ops


def _custom_activation() -> Activation:
    tanh = ACTIVATIONS["tanh"]
    return Activation("my_tanh", lambda x: torch.tanh(x), tanh.grad_from_output)


@pytest.mark.parametrize(("make", "argument"), [
    (lambda: rn.GRU(I, H, activation=_custom_activation()), "activation"),
    (lambda: rn.LSTM(I, H, recurrent_activation=_custom_activation(), layer_norm=True),
     "recurrent_activation"),
])
def test_custom_activation_is_refused(make, argument):
    with pytest.raises(ValueError, match=rf"{argument}='my_tanh'.*custom Activation"):
        layer_to_onnx(make())


def test_a_torch_layer_is_refused():
    with pytest.raises(TypeError, match="rnnkit.nn RNN, LSTM or GRU, got torch.nn.modules"):
        layer_to_onnx(torch.nn.LSTM(I, H))


def test_float64_layer_exports_in_float32():
    layer = _build(lambda: rn.GRU(I, H, layer_norm=True))
    session = _session(layer_to_onnx(copy.deepcopy(layer).double()))
    x = torch.randn(3, 2, I, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        output, h_n = layer(x, lengths=[3, 1])
    got = session.run(None, {"x": x.numpy(), "lengths": np.array([3, 1], dtype=np.int64),
                             "h_0": np.zeros((1, 2, H), dtype=np.float32)})
    assert got[0].dtype == np.float32
    _assert_close(got[0], output, "output")
    _assert_close(got[1], h_n, "h_n")


CELLS = {
    "rnn_relu": lambda: rn.RNNCell(I, H, nonlinearity="relu"),
    "gru_reset_before_layer_norm_zoneout": lambda: rn.GRUCell(I, H, reset_after=False,
                                                              layer_norm=True, zoneout=0.2),
    "lstm_peephole_layer_norm_hard_sigmoid_zoneout": lambda: rn.LSTMCell(
        I, H, peephole=True, layer_norm=True, recurrent_activation="hard_sigmoid",
        zoneout=(0.1, 0.3)),
    "lstm_no_bias": lambda: rn.LSTMCell(I, H, bias=False),
}


@pytest.mark.parametrize("variant", sorted(CELLS))
def test_one_cell_step_matches_the_cells_eval_forward(variant):
    """``add_cell_step`` (the translator's decoder step) computes what ``cell.eval()`` does,
    every option included, at batch 1 and 3."""
    cell = _build(CELLS[variant])
    config = cell.config
    builder = GraphBuilder("cell_step")
    x = builder.input("x", np.float32, ("batch", I))
    names = ["h", "c"] if config.kind == "lstm" else ["h"]
    sizes = [config.output_size, config.hidden_size][:len(names)]
    state = [builder.input(name, np.float32, ("batch", size)) for name, size in zip(names, sizes)]
    for name, value, size in zip(names, add_cell_step(builder, config, numpy_weights(cell, config),
                                                      x, state), sizes):
        builder.output(value, f"{name}_next", np.float32, ("batch", size))
    session = _session(builder.to_model())
    generator = torch.Generator().manual_seed(2)
    for batch in (1, 3):
        x = torch.randn(batch, I, generator=generator)
        state = [torch.randn(batch, size, generator=generator) for size in sizes]
        with torch.no_grad():
            expected = cell(x, state[0] if len(state) == 1 else tuple(state))
        expected = expected if isinstance(expected, tuple) else (expected,)
        feeds = {"x": x.numpy(), **{name: value.numpy() for name, value in zip(names, state)}}
        got = session.run([f"{name}_next" for name in names], feeds)
        for name, value, reference in zip(names, got, expected):
            _assert_close(value, reference, f"{variant} {name} at batch {batch}")


def test_c_0_for_a_layer_without_cell_state_is_refused():
    builder = GraphBuilder("bad")
    with pytest.raises(ValueError, match="GRU: c_0 applies to an LSTM only"):
        add_recurrent(builder, rn.GRU(I, H), "x", "lengths", "h_0", "c_0")


def test_layer_to_onnx_saves_a_loadable_model(tmp_path):
    path = tmp_path / "gru.onnx"
    model = layer_to_onnx(rn.GRU(I, H), path)
    assert onnx.load(str(path)) == model
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["time", "batch", I]


def test_import_does_not_load_onnxruntime():
    code = "import sys, rnnkit.export; print('onnxruntime' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"

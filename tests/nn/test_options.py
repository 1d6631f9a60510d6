"""Keras' options and rnnkit's extras behave as documented."""

import json

import pytest
import torch

import rnnkit.nn as rn
from rnnkit.nn import LayerConfig
from rnnkit.nn.functional import reverse_padded
from rnnkit.nn.kernels import dispatch


def _set(module, **values):
    with torch.no_grad():
        for name, value in values.items():
            getattr(module, name).copy_(value)


def _accumulator(size, **options):
    """A linear RNN with ``h_t = x_t + m ⊙ h_{t-1}`` (identity weights, no bias)."""
    rnn = rn.RNN(size, size, activation="linear", bias=False, **options)
    _set(rnn, weight_ih_l0=torch.eye(size), weight_hh_l0=torch.eye(size))
    return rnn


def test_recurrent_dropout_reuses_one_mask_per_sequence():
    torch.manual_seed(0)
    rnn = _accumulator(64, recurrent_dropout=0.5).train()
    output, _ = rnn(torch.ones(6, 4, 64))
    # A unit whose mask is 0 stays at 1 forever; one whose mask is 2 follows 1, 3, 7, 15, ...
    dropped = torch.ones(6)
    kept = torch.tensor([2.0**t for t in range(1, 7)]) - 1
    trajectories = output.permute(1, 2, 0).reshape(-1, 6)  # (B*H, T)
    is_dropped = (trajectories == dropped).all(dim=1)
    is_kept = torch.isclose(trajectories, kept).all(dim=1)
    assert bool((is_dropped | is_kept).all())
    assert 0 < int(is_dropped.sum()) < len(trajectories)
    masks_per_sequence = is_dropped.view(4, 64)
    assert not all(torch.equal(masks_per_sequence[0], m) for m in masks_per_sequence[1:])


def test_input_dropout_reuses_one_mask_per_sequence():
    torch.manual_seed(0)
    rnn = rn.RNN(32, 32, activation="linear", bias=False, input_dropout=0.5).train()
    _set(rnn, weight_ih_l0=torch.eye(32), weight_hh_l0=torch.zeros(32, 32))
    output, _ = rnn(torch.ones(5, 3, 32))  # h_t = mask ⊙ x_t: the same at every step
    assert torch.equal(output, output[:1].expand_as(output))
    assert set(output.unique().tolist()) == {0.0, 2.0}


@pytest.mark.parametrize("option", [
    {"input_dropout": 0.4}, {"recurrent_dropout": 0.4}, {"weight_drop": 0.4},
    {"zoneout": 0.3}, {"dropout": 0.4, "num_layers": 2},
])
def test_noise_is_off_in_eval_and_on_in_training(option):
    torch.manual_seed(0)
    noisy = rn.LSTM(4, 6, **option)
    clean = rn.LSTM(4, 6, num_layers=option.get("num_layers", 1))
    clean.load_state_dict(noisy.state_dict())
    x = torch.randn(5, 3, 4)
    noisy.train()
    assert not torch.allclose(noisy(x)[0], noisy(x)[0])
    if "zoneout" not in option:
        noisy.eval()
        torch.testing.assert_close(noisy(x)[0], clean(x)[0])


def test_zoneout_in_eval_is_the_expected_update():
    torch.manual_seed(0)
    p = 0.3
    gru = rn.GRU(4, 5, zoneout=p).eval()
    plain = rn.GRU(4, 5)
    plain.load_state_dict(gru.state_dict())
    x = torch.randn(6, 2, 4)
    h = torch.zeros(1, 2, 5)
    expected = []
    for t in range(6):
        _, h_new = plain(x[t : t + 1], h)
        h = p * h + (1 - p) * h_new
        expected.append(h[0])
    torch.testing.assert_close(gru(x)[0], torch.stack(expected))


def test_zoneout_in_training_keeps_or_updates_each_unit():
    torch.manual_seed(0)
    rnn = rn.RNN(4, 16, zoneout=0.5).train()
    output, _ = rnn(torch.randn(8, 3, 4))
    previous = torch.cat([torch.zeros(1, 3, 16), output[:-1]])
    kept = output == previous
    assert 0.3 < kept.float().mean() < 0.7


def test_weight_drop_native_and_reference_draw_the_same_mask():
    outputs = []
    for impl in ("native", "reference"):
        torch.manual_seed(3)
        lstm = rn.LSTM(4, 6, weight_drop=0.5, impl=impl).train()
        x = torch.randn(5, 2, 4)
        outputs.append(lstm(x)[0])
    torch.testing.assert_close(*outputs)


def test_layer_norm_makes_the_input_projection_scale_free():
    torch.manual_seed(0)
    lstm = rn.LSTM(4, 6, layer_norm=True, bias=False)
    _set(lstm, weight_hh_l0=torch.zeros(24, 6))
    x = torch.randn(5, 2, 4)
    before = lstm(x)[0]
    _set(lstm, weight_ih_l0=lstm.weight_ih_l0 * 10)
    # Equal up to the layer norm's eps (1e-5 added to the variance).
    torch.testing.assert_close(lstm(x)[0], before, rtol=1e-3, atol=1e-4)
    plain = rn.LSTM(4, 6, bias=False)
    _set(plain, weight_ih_l0=lstm.weight_ih_l0, weight_hh_l0=torch.zeros(24, 6))
    unscaled = plain(x)[0]
    _set(plain, weight_ih_l0=lstm.weight_ih_l0 / 10)
    assert not torch.allclose(plain(x)[0], unscaled, rtol=1e-2, atol=1e-2)


def test_layer_norm_parameters_and_defaults():
    lstm = rn.LSTM(4, 6, layer_norm=True, bidirectional=True)
    names = dict(lstm.named_parameters())
    assert names["layer_norm_ih_l0"].shape == (24,)
    assert names["layer_norm_c_bias_l0_reverse"].shape == (6,)
    assert torch.equal(names["layer_norm_hh_l0"], torch.ones(24))
    assert torch.equal(names["layer_norm_c_bias_l0"], torch.zeros(6))
    assert "layer_norm_c_weight_l0" not in dict(rn.GRU(4, 6, layer_norm=True).named_parameters())


def test_unit_forget_bias_sets_the_forget_gate_bias_to_one():
    lstm = rn.LSTM(4, 6, unit_forget_bias=True, num_layers=2)
    for layer in (0, 1):
        total = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
        assert torch.equal(total[6:12], torch.ones(6))
        assert not torch.equal(total[:6], torch.ones(6))


def test_initializers_apply_by_role():
    lstm = rn.LSTM(4, 6, kernel_initializer="zeros", recurrent_initializer="orthogonal",
                   bias_initializer="ones", proj_size=3)
    assert torch.equal(lstm.weight_ih_l0, torch.zeros(24, 4))
    assert torch.equal(lstm.weight_hr_l0, torch.zeros(3, 6))
    gram = lstm.weight_hh_l0.t() @ lstm.weight_hh_l0
    torch.testing.assert_close(gram, torch.eye(3), rtol=1e-5, atol=1e-5)
    assert torch.equal(lstm.bias_hh_l0, torch.ones(24))


def test_regularization_loss_sums_each_role():
    gru = rn.GRU(4, 6, num_layers=2, kernel_regularizer={"name": "l2", "l2": 0.1},
                 recurrent_regularizer="l1", bias_regularizer=None)
    expected = 0.1 * sum((getattr(gru, f"weight_ih_l{k}") ** 2).sum() for k in (0, 1))
    expected = expected + 0.01 * sum(getattr(gru, f"weight_hh_l{k}").abs().sum() for k in (0, 1))
    torch.testing.assert_close(gru.regularization_loss(), expected)
    assert rn.GRU(4, 6).regularization_loss().item() == 0.0
    gru.regularization_loss().backward()
    assert gru.weight_ih_l1.grad is not None and gru.bias_ih_l0.grad is None


def test_apply_constraints_projects_weights():
    lstm = rn.LSTM(4, 6, kernel_constraint={"name": "max_norm", "max_value": 0.1},
                   bias_constraint="non_neg")
    lstm.apply_constraints()
    weights = {name: value.detach() for name, value in lstm.named_parameters()}
    assert float(weights["weight_ih_l0"].norm(dim=1).max()) <= 0.1 + 1e-6
    assert float(weights["bias_ih_l0"].min()) >= 0.0
    assert float(weights["weight_hh_l0"].norm(dim=1).max()) > 0.1  # unconstrained role


@pytest.mark.parametrize("impl", ["native", "bptt", "reference"])
def test_go_backwards_reads_each_sequence_from_its_end(impl):
    torch.manual_seed(0)
    backwards = rn.GRU(4, 5, go_backwards=True, impl=impl)
    forwards = rn.GRU(4, 5)
    forwards.load_state_dict(backwards.state_dict())
    x, lengths = torch.randn(6, 3, 4), torch.tensor([6, 3, 5])
    out_b, h_b = backwards(x, lengths=lengths)
    out_f, h_f = forwards(reverse_padded(x, lengths), lengths=lengths)
    torch.testing.assert_close(out_b, out_f)
    torch.testing.assert_close(h_b, h_f)


def test_return_gates_traces_the_lstm_equations():
    torch.manual_seed(0)
    lstm = rn.LSTM(4, 5, batch_first=True, bidirectional=True)
    x, lengths = torch.randn(3, 6, 4), torch.tensor([6, 2, 4])
    output, _, gates = lstm(x, lengths=lengths, return_gates=True)
    assert set(gates) == {"l0", "l0_reverse"}
    g = gates["l0"]
    assert set(g) == {"i", "f", "g", "o", "c", "h"} and g["i"].shape == (3, 6, 5)
    torch.testing.assert_close(g["h"], g["o"] * torch.tanh(g["c"]))
    c_prev = torch.cat([torch.zeros(3, 1, 5), g["c"][:, :-1]], dim=1)
    expected_c = (g["f"] * c_prev + g["i"] * g["g"])
    mask = (torch.arange(6) < lengths[:, None]).unsqueeze(-1)
    torch.testing.assert_close(g["c"], expected_c * mask)
    torch.testing.assert_close(g["h"], output[..., :5])
    torch.testing.assert_close(gates["l0_reverse"]["h"], output[..., 5:])
    assert float(g["i"][1, 2:].detach().abs().max()) == 0.0


def test_return_gates_for_gru_and_rnn():
    x = torch.randn(4, 2, 3)
    _, _, gru_gates = rn.GRU(3, 5)(x, return_gates=True)
    assert list(gru_gates["l0"]) == ["r", "z", "n", "h"]
    _, _, rnn_gates = rn.RNN(3, 5, num_layers=2)(x, return_gates=True)
    assert set(rnn_gates) == {"l0", "l1"} and list(rnn_gates["l1"]) == ["h"]


def test_config_round_trips_through_json():
    lstm = rn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=2, layer_norm=True,
                   zoneout=(0.1, 0.2), recurrent_activation="hard_sigmoid",
                   kernel_regularizer="l2", recurrent_constraint="unit_norm",
                   kernel_initializer={"name": "uniform", "a": 0.1}, impl="reference")
    data = json.loads(json.dumps(lstm.config.to_dict()))
    config = LayerConfig.from_dict(data)
    assert config == lstm.config
    rebuilt = rn.LSTM.from_config(config)
    rebuilt.load_state_dict(lstm.state_dict())
    x = torch.randn(3, 2, 4)
    torch.testing.assert_close(rebuilt.eval()(x)[0], lstm.eval()(x)[0])


def test_config_refuses_unknown_keys():
    data = rn.GRU(4, 6).config.to_dict()
    with pytest.raises(ValueError, match="unknown keys \\['colour'\\]"):
        LayerConfig.from_dict({**data, "colour": "red"})
    with pytest.raises(ValueError, match="unknown keys"):
        LayerConfig.from_dict({**data, "cell": {**data["cell"], "units": 3}})


def test_auto_follows_the_measured_table():
    from rnnkit.nn.kernels import AUTO_TABLE, choose_impl

    assert choose_impl(rn.LSTM(4, 6, weight_drop=0.3).config, "auto", False) == "native"
    assert choose_impl(rn.LSTM(4, 6).config, "auto", True) == "reference"
    flexible = rn.LSTM(4, 6, recurrent_activation="hard_sigmoid").config
    assert choose_impl(flexible, "auto", False) == "bptt"
    assert choose_impl(flexible, "auto", False, "cuda") == "bptt"
    for kind, layer in (("gru", rn.GRU), ("rnn", rn.RNN)):
        for device in ("cpu", "cuda"):
            for graph in (True, False):
                # batch 16: above the compiled loops' inference rule (test_fused_loop.py)
                assert choose_impl(layer(4, 6).config, "auto", False, device, graph, 16) == \
                    AUTO_TABLE[(device, kind, graph)]
    with pytest.raises(ValueError, match="impl='auto'"):
        rn.LSTM(4, 6, layer_norm=True, impl="native")(torch.randn(2, 1, 4))


@pytest.mark.skipif(not dispatch.PACKING_AVAILABLE, reason="torch was built without oneDNN")
@pytest.mark.parametrize("kind", ["gru", "rnn"])
def test_auto_runs_bptt_for_inference_where_its_products_pack(kind, monkeypatch):
    from rnnkit.nn.kernels import choose_impl

    monkeypatch.setattr(dispatch, "FUSED_INFERENCE_MAX_BATCH", 0)  # packing alone here
    config = {"gru": rn.GRU, "rnn": rn.RNN}[kind](8, 512).config
    assert choose_impl(config, "auto", False, "cpu", False, 32) == "bptt"
    assert choose_impl(config, "auto", False, "cpu", False, 3) == "native"  # too few rows
    assert choose_impl(config, "auto", False, "cpu", False, 32, has_lengths=True) == "native"
    assert choose_impl(config, "auto", False, "cpu", False, 32, torch.float64) == "native"
    assert choose_impl(config, "auto", False, "cuda", False, 32) == "native"
    small = {"gru": rn.GRU, "rnn": rn.RNN}[kind](8, 128).config
    assert choose_impl(small, "auto", False, "cpu", False, 32) == "native"
    lstm = rn.LSTM(8, 512).config
    assert choose_impl(lstm, "auto", False, "cpu", False, 32) == "native"
    with torch.autocast("cpu", dtype=torch.bfloat16):  # oneDNN's packed product refuses it
        assert choose_impl(config, "auto", False, "cpu", False, 32) == "native"


@pytest.mark.parametrize(("batch_first", "shape", "batch"), [
    (False, (5, 6, 8), 6), (True, (6, 5, 8), 6), (False, (5, 8), 1)])
def test_the_layer_tells_auto_its_batch_size(batch_first, shape, batch, monkeypatch):
    from rnnkit.nn import kernels

    asked = []
    choose = kernels.choose_impl
    monkeypatch.setattr(kernels, "choose_impl",
                        lambda *args: asked.append(args) or choose(*args))
    with torch.no_grad():
        rn.GRU(8, 16, batch_first=batch_first)(torch.randn(shape))
    assert asked[0][5:] == (batch, torch.float32, False)


@pytest.mark.parametrize("packed", [False, True], ids=["lengths", "packed"])
def test_lengths_that_pad_nothing_run_as_no_lengths(packed, monkeypatch):
    from rnnkit.nn import kernels

    asked = []
    choose = kernels.choose_impl
    monkeypatch.setattr(kernels, "choose_impl",
                        lambda *args: asked.append(args) or choose(*args))
    torch.manual_seed(0)
    layer = rn.LSTM(8, 16, bidirectional=True)
    x = torch.randn(5, 3, 8)
    expected, (h_n, c_n) = layer(x)
    full = torch.full((3,), 5)
    if packed:
        output, state = layer(torch.nn.utils.rnn.pack_padded_sequence(x, full))
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(output)
    else:
        output, state = layer(x, lengths=full)
    assert [args[-1] for args in asked] == [False, False]  # has_lengths, both calls
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(state, (h_n, c_n))
    layer(x, lengths=torch.tensor([5, 4, 5]))
    assert asked[-1][-1] is True


def test_gru_inference_under_autocast_runs():
    layer = rn.GRU(8, 512).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        output, _ = layer(torch.randn(5, 32, 8))
    assert output.shape == (5, 32, 512)


def test_peephole_with_zero_weights_is_the_plain_lstm():
    torch.manual_seed(0)
    peephole = rn.LSTM(4, 6, peephole=True, num_layers=2)
    plain = rn.LSTM(4, 6, num_layers=2)
    state = peephole.state_dict()
    assert torch.equal(state["weight_ci_l1"], torch.zeros(6))
    plain.load_state_dict({k: v for k, v in state.items() if "weight_c" not in k})
    x = torch.randn(5, 2, 4)
    torch.testing.assert_close(peephole(x)[0], plain(x)[0])
    assert not peephole.config.cell.is_torch_standard


@pytest.mark.parametrize("impl", ["reference", "bptt"])
def test_peephole_follows_gers_and_schmidhuber(impl):
    torch.manual_seed(0)
    lstm = rn.LSTM(3, 4, peephole=True, impl=impl)
    with torch.no_grad():
        for name in ("weight_ci_l0", "weight_cf_l0", "weight_co_l0"):
            getattr(lstm, name).uniform_(-1, 1)
    x = torch.randn(6, 2, 3)
    w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
    bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
    h, c = torch.zeros(2, 4), torch.zeros(2, 4)
    expected = []
    for t in range(6):
        pre_i, pre_f, pre_g, pre_o = (x[t] @ w_ih.t() + h @ w_hh.t() + bias).chunk(4, dim=-1)
        i = torch.sigmoid(pre_i + lstm.weight_ci_l0 * c)
        f = torch.sigmoid(pre_f + lstm.weight_cf_l0 * c)
        c = f * c + i * torch.tanh(pre_g)
        o = torch.sigmoid(pre_o + lstm.weight_co_l0 * c)
        h = o * torch.tanh(c)
        expected.append(h)
    output, (_, c_n) = lstm(x)
    torch.testing.assert_close(output, torch.stack(expected))
    torch.testing.assert_close(c_n[0], c)


def test_peephole_cell_parameters_and_config():
    cell = rn.LSTMCell(3, 4, peephole=True)
    assert [n for n, _ in cell.named_parameters()][-3:] == ["weight_ci", "weight_cf", "weight_co"]
    lstm = rn.LSTM(3, 4, peephole=True, impl="bptt")
    assert LayerConfig.from_dict(json.loads(json.dumps(lstm.config.to_dict()))) == lstm.config
    with pytest.raises(ValueError, match="impl='native' cannot serve.*peephole"):
        rn.LSTM(3, 4, peephole=True, impl="native")(torch.randn(2, 1, 3))


@pytest.mark.parametrize("cell_cls", [rn.RNNCell, rn.LSTMCell, rn.GRUCell])
def test_cell_reuses_masks_until_reset(cell_cls):
    torch.manual_seed(0)
    cell = cell_cls(4, 6, recurrent_dropout=0.5, input_dropout=0.5).train()
    x = torch.randn(2, 4)
    first = cell(x)
    again = cell(x)
    torch.testing.assert_close(first, again)
    cell.reset_dropout_masks()
    assert not all(torch.allclose(a, b) for a, b in zip(
        first if isinstance(first, tuple) else (first,),
        cell(x) if isinstance(first, tuple) else (cell(x),),
    ))


def test_layer_and_cell_agree_on_flexible_options():
    torch.manual_seed(0)
    options = {"recurrent_activation": "hard_sigmoid", "layer_norm": True,
               "activation": "softsign"}
    layer = rn.LSTM(4, 6, **options).eval()
    cell = rn.LSTMCell(4, 6, **options).eval()
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = torch.randn(5, 2, 4)
    state = None
    for t in range(5):
        state = cell(x[t], state)
    _, (h_n, c_n) = layer(x)
    torch.testing.assert_close(state[0], h_n[0])
    torch.testing.assert_close(state[1], c_n[0])


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("options", [{}, {"layer_norm": True, "recurrent_dropout": 0.2}],
                         ids=["plain", "layer_norm_dropout"])
def test_bptt_under_autocast_runs_in_the_weights_dtype(kind, options):
    layer = {"lstm": rn.LSTM, "gru": rn.GRU, "rnn": rn.RNN}[kind](8, 16, impl="bptt", **options)
    x = torch.randn(5, 3, 8)

    def run(autocast: bool):
        torch.manual_seed(0)  # the same dropout masks
        leaf = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            output, _ = layer(leaf)
        grads = torch.autograd.grad(output.sum(), [leaf, *layer.parameters()])
        return output, grads

    (output, grads), (plain, plain_grads) = run(True), run(False)
    assert output.dtype == torch.float32
    torch.testing.assert_close(output, plain, rtol=0, atol=0)
    for got, expected in zip(grads, plain_grads):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)

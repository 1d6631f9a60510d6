"""The language model's step and score graphs in onnxruntime against the PyTorch eval forward."""

import pytest

onnxruntime = pytest.importorskip("onnxruntime")

import numpy as np
import torch

from rnnkit.export.language_model import language_model_graphs
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.models.sampling import SamplingConfig, generate
from tests.export.parity import (
    SHAPES,
    TOLERANCE,
    max_difference,
    padded_ids,
    run,
    session,
)

VOCAB = 13
CONFIGS = {
    "lstm, 2 layers": {"cell": "lstm", "num_layers": 2},
    "gru": {"cell": "gru", "num_layers": 1},
    "rnn, tied weights": {"cell": "rnn", "num_layers": 1, "tie_weights": True, "hidden_size": 5},
    "lstm with projection": {"cell": "lstm", "num_layers": 1, "hidden_size": 7,
                             "rnn_options": {"proj_size": 5}},
    "gru with layer norm (a Scan)": {"cell": "gru", "num_layers": 2,
                                     "rnn_options": {"layer_norm": True}},
}


def build(options: dict) -> tuple[LanguageModel, dict]:
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(
        vocab_size=VOCAB, **{"embed_size": 5, "hidden_size": 6, **options})).eval()
    return model, language_model_graphs(model)


def random_state(model: LanguageModel, batch: int, generator: torch.Generator):
    config = model.config
    h = torch.randn(config.num_layers, batch, config.output_size, generator=generator)
    if config.cell != "lstm":
        return h
    return h, torch.randn(config.num_layers, batch, config.hidden_size, generator=generator)


def state_inputs(state) -> dict:
    return {"h": state[0], "c": state[1]} if isinstance(state, tuple) else {"h": state}


def state_outputs(outputs: dict) -> list[np.ndarray]:
    return [outputs["h_out"]] + ([outputs["c_out"]] if "c_out" in outputs else [])


@pytest.mark.parametrize("options", CONFIGS.values(), ids=CONFIGS)
@pytest.mark.parametrize("lengths", SHAPES.values(), ids=SHAPES)
def test_step_graph_matches_the_forward(options, lengths):
    model, graphs = build(options)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, VOCAB, (len(lengths), max(lengths)), generator=generator)
    state = random_state(model, len(lengths), generator)
    outputs = run(graphs["step"], ids=ids, **state_inputs(state))
    with torch.no_grad():
        reference = model(ids, state)
    assert max_difference(outputs["logits"], reference.logits) <= TOLERANCE
    expected = reference.state if isinstance(reference.state, tuple) else (reference.state,)
    for exported, value in zip(state_outputs(outputs), expected, strict=True):
        assert max_difference(exported, value) <= TOLERANCE


@pytest.mark.parametrize("options", CONFIGS.values(), ids=CONFIGS)
@pytest.mark.parametrize("lengths", SHAPES.values(), ids=SHAPES)
def test_score_graph_matches_each_row_alone(options, lengths):
    """Each row's target log-probabilities and final state equal the forward over that row's
    own tokens; past its length the log-probabilities are exactly 0."""
    model, graphs = build(options)
    generator = torch.Generator().manual_seed(2)
    ids, lengths_tensor = padded_ids(lengths, VOCAB, generator)
    targets, _ = padded_ids(lengths, VOCAB, generator)
    state = random_state(model, len(lengths), generator)
    outputs = run(graphs["score"], ids=ids, targets=targets, lengths=lengths_tensor,
                  **state_inputs(state))
    for row, length in enumerate(lengths):
        row_state = tuple(part[:, row:row + 1] for part in state) if isinstance(state, tuple) \
            else state[:, row:row + 1]
        with torch.no_grad():
            reference = model(ids[row:row + 1, :length], row_state)
        log_probs = torch.log_softmax(reference.logits[0], dim=-1)  # (T, V)
        expected = log_probs.gather(1, targets[row, :length].unsqueeze(1)).squeeze(1)
        assert max_difference(outputs["log_probs"][row, :length], expected) <= TOLERANCE
        assert not outputs["log_probs"][row, length:].any()
        expected_state = reference.state if isinstance(reference.state, tuple) \
            else (reference.state,)
        for exported, value in zip(state_outputs(outputs), expected_state, strict=True):
            assert max_difference(exported[:, row:row + 1], value) <= TOLERANCE


def test_score_graph_gives_the_models_loss():
    model, graphs = build(CONFIGS["lstm, 2 layers"])
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(0, VOCAB, (2, 7), generator=generator)
    targets = torch.randint(0, VOCAB, (2, 7), generator=generator)
    zeros = torch.zeros(2, 2, 6)
    outputs = run(graphs["score"], ids=ids, targets=targets, lengths=torch.tensor([7, 7]),
                  h=zeros, c=zeros)
    with torch.no_grad():
        loss = float(model(ids, targets=targets).loss)
    assert -outputs["log_probs"].mean() == pytest.approx(loss, abs=TOLERANCE)


@pytest.mark.parametrize("options", [CONFIGS["lstm, 2 layers"], CONFIGS["gru"]],
                         ids=["lstm", "gru"])
def test_greedy_generation_over_the_step_graph_gives_the_same_tokens(options):
    model, graphs = build(options)
    prompt = [3, 7, 1, 4]
    config = SamplingConfig(max_new_tokens=12, greedy=True)
    expected = generate(model, prompt, config)[0]
    step = session(graphs["step"])
    names = graphs["step"].spec.output_names()
    state = {name: np.zeros((model.config.num_layers, 1, model.config.hidden_size), np.float32)
             for name in (["h", "c"] if model.config.cell == "lstm" else ["h"])}
    ids, tokens = np.array([prompt]), []
    for _ in range(config.max_new_tokens):
        outputs = dict(zip(names, step.run(names, {"ids": ids, **state})))
        state = {name: outputs[f"{name}_out"] for name in state}
        ids = outputs["logits"][:, -1].argmax(axis=-1).reshape(1, 1)
        tokens.append(int(ids[0, 0]))
    assert tokens == expected

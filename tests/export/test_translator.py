"""The translator's encoder and decoder-step graphs in onnxruntime against ``Seq2Seq.encode``
and ``Seq2Seq.step``; greedy decoding driven over the graphs gives ``Seq2Seq.greedy``'s
tokens."""

import pytest

onnxruntime = pytest.importorskip("onnxruntime")

import numpy as np
import torch

from rnnkit.export.translator import translator_graphs
from rnnkit.models import Seq2Seq, Seq2SeqConfig
from rnnkit.models.seq2seq import DecoderState
from tests.export.parity import (
    SHAPES,
    TOLERANCE,
    max_difference,
    padded_ids,
    run,
    session,
)

SOURCE, TARGET = 14, 12
CONFIGS = {"bahdanau, bidirectional": {"attention": "bahdanau", "bidirectional": True},
           "luong, one direction, 2 layers": {"attention": "luong", "bidirectional": False,
                                              "encoder_layers": 2}}


def build(**options) -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(Seq2SeqConfig(
        source_vocab_size=SOURCE, target_vocab_size=TARGET,
        **{"embed_size": 5, "hidden_size": 6, "attention_size": 4, **options})).eval()


@pytest.mark.parametrize("options", CONFIGS.values(), ids=CONFIGS)
@pytest.mark.parametrize("lengths", SHAPES.values(), ids=SHAPES)
def test_encoder_and_decoder_step_match_the_model(options, lengths):
    model = build(**options)
    graphs = translator_graphs(model)
    generator = torch.Generator().manual_seed(1)
    source, lengths_tensor = padded_ids(lengths, SOURCE, generator)
    encoded = run(graphs["encoder"], source=source, lengths=lengths_tensor)
    with torch.no_grad():
        memory, state = model.encode(source, lengths_tensor)
    assert max_difference(encoded["memory"], memory.states) <= TOLERANCE
    for name, expected in zip(("h", "c", "feed"), state):
        assert max_difference(encoded[name], expected) <= TOLERANCE
    # a step from a state that is not the first (random feed), as every later step runs
    state = DecoderState(state.h, state.c, torch.randn(state.h.shape, generator=generator))
    previous = torch.randint(0, TARGET, (len(lengths),), generator=generator)
    stepped = run(graphs["decoder_step"], previous=previous, h=state.h, c=state.c,
                  feed=state.feed, memory=memory.states, lengths=lengths_tensor)
    with torch.no_grad():
        logits, new_state, weights = model.step(previous, state, memory)
    assert max_difference(stepped["log_probs"], logits.log_softmax(dim=-1)) <= TOLERANCE
    for name, expected in zip(("h_out", "c_out", "feed_out"), new_state):
        assert max_difference(stepped[name], expected) <= TOLERANCE
    assert max_difference(stepped["attention"], weights) <= TOLERANCE
    assert not stepped["attention"][~memory.mask.numpy()].any()  # padding gets no attention


@pytest.mark.parametrize("options", CONFIGS.values(), ids=CONFIGS)
def test_greedy_decoding_over_the_graphs_gives_the_models_tokens(options):
    model = build(**options)
    graphs = translator_graphs(model)
    source, lengths = padded_ids(SHAPES["lengths all different, unsorted"], SOURCE,
                                 torch.Generator().manual_seed(2))
    encoder, step = session(graphs["encoder"]), session(graphs["decoder_step"])
    memory, h, c, feed = encoder.run(None, {"source": source.numpy(),
                                            "lengths": lengths.numpy()})
    previous = np.full(len(lengths), model.config.bos_id, dtype=np.int64)
    rows = []
    for _ in range(8):
        log_probs, h, c, feed, _ = step.run(None, {
            "previous": previous, "h": h, "c": c, "feed": feed, "memory": memory,
            "lengths": lengths.numpy()})
        previous = log_probs.argmax(axis=1)
        rows.append(previous.tolist())
    tokens = []
    for column in zip(*rows):
        column = list(column)
        tokens.append(column[:column.index(model.config.eos_id)]
                      if model.config.eos_id in column else column)
    assert tokens == model.greedy(source, lengths, max_length=8)

"""The ONNX graph of a :class:`~rnnkit.models.Tagger`: ``ids``, ``lengths`` (and ``chars``) →
``emissions (B, T, C)``, with the character CNN or BiLSTM inside; a CRF's transition scores go
to an array file and Viterbi runs in numpy (why: :mod:`rnnkit.export.manifest`).

Inside, words run time-major (``(T, B, ·)``, as :func:`add_recurrent` wants) and the words of
a batch are flattened ``T*B`` for the character encoder; only the emissions are turned back to
batch-major at the end.
"""

from __future__ import annotations

import numpy as np
import torch
from onnx import TensorProto

from rnnkit.export import ops
from rnnkit.export.graph import GraphBuilder
from rnnkit.export.manifest import TensorSpec
from rnnkit.export.recurrent import add_recurrent
from rnnkit.models.tagger import CharCNN, CharLSTM, Tagger


def input_specs(model: Tagger) -> list[TensorSpec]:
    specs = [TensorSpec("ids", "int64", ("batch", "time")),
             TensorSpec("lengths", "int64", ("batch",))]
    if model.chars is not None:
        specs.append(TensorSpec("chars", "int64", ("batch", "time", "width")))
    return specs


def _char_cnn(builder: GraphBuilder, encoder: CharCNN, flat: str) -> str:
    """``f_w = max_c ReLU(conv(E_char[w_1..w_W]))_c`` over real characters: ``(N, W)`` →
    ``(N, F)`` (all-padding words give zeros)."""
    embedded = ops.transpose(builder, ops.embed(builder, encoder.embedding, flat,
                                                "char_embedding"), [0, 2, 1])  # (N, E_c, W)
    conv = encoder.conv
    kernel, padding = conv.kernel_size[0], conv.padding[0]
    convolved = builder.node("Conv", [embedded, ops.weight(builder, "char_conv_weight",
                                                           conv.weight),
                                      ops.weight(builder, "char_conv_bias", conv.bias)],
                             kernel_shape=[kernel], pads=[padding, padding])  # (N, F, W')
    activated = builder.node("Relu", [convolved])
    width = ops.size(builder, flat, 1)  # [W]; an even kernel gives W' = W + 1
    activated = builder.node("Slice", [activated, ops.ints(builder, "char_start", [0]), width,
                                       ops.ints(builder, "char_axis", [2])])  # (N, F, W)
    padding_chars = ops.unsqueeze(builder, builder.node(
        "Equal", [flat, ops.integer(builder, "pad_char", 0)]), [1])  # (N, 1, W)
    # ReLU ≥ 0, so 0 at padding never wins the max over a word with characters
    kept = builder.node("Where", [padding_chars, ops.scalar(builder, "zero_float", 0.0),
                                  activated])
    return builder.node("ReduceMax", [kept, ops.ints(builder, "char_axis", [2])],
                        keepdims=0)  # (N, F)


def _char_lstm(builder: GraphBuilder, encoder: CharLSTM, flat: str) -> str:
    """``f_w = [→h_W ; ←h_1]`` of a character BiLSTM over the word: ``(N, W)`` → ``(N, F)``;
    a padding word runs one pad character, as the model does."""
    embedded = ops.embed(builder, encoder.embedding, ops.transpose(builder, flat, [1, 0]),
                         "char_embedding")  # (W, N, E_c)
    present = builder.node("Cast", [builder.node("Not", [builder.node(
        "Equal", [flat, ops.integer(builder, "pad_char", 0)])])], to=TensorProto.INT64)  # (N, W) int64
    lengths = builder.node("ReduceSum", [present, ops.ints(builder, "char_axis", [1])],
                           keepdims=0)  # (N,)
    lengths = builder.node("Max", [lengths, ops.integer(builder, "one_char", 1)])
    _, h_n, _ = add_recurrent(builder, encoder.rnn, embedded, lengths)  # (2, N, F/2)
    both = ops.transpose(builder, h_n, [1, 0, 2])  # (N, 2, F/2)
    return builder.node("Reshape", [both, ops.ints(builder, "char_flat", [0, -1])])  # (N, F)


def _char_features(builder: GraphBuilder, model: Tagger, chars: str) -> str:
    """The character encoder's features of every word: ``(B, T, W)`` → ``(T, B, F)``."""
    words = ops.transpose(builder, chars, [1, 0, 2])  # (T, B, W)
    leading = ops.size(builder, words, 0), ops.size(builder, words, 1)  # [T], [B]
    flat_shape = builder.node("Concat", [ops.ints(builder, "words_flat", [-1]),
                                         ops.size(builder, words, 2)], axis=0)  # [-1, W]
    flat = builder.node("Reshape", [words, flat_shape])  # (T*B, W)
    encode = _char_cnn if isinstance(model.chars, CharCNN) else _char_lstm
    features = encode(builder, model.chars, flat)  # (T*B, F)
    shape = builder.node("Concat", [*leading, ops.ints(builder, "features", [-1])], axis=0)
    return builder.node("Reshape", [features, shape])  # (T, B, F)


def tagger_graph(model: Tagger) -> ops.TaskGraph:
    """``ids (B, T)``, ``lengths (B,)`` (``chars (B, T, W)``) → ``emissions (B, T, C)``."""
    builder = GraphBuilder("tagger")
    inputs = input_specs(model)
    values = ops.declare_inputs(builder, inputs)
    features = ops.embed(builder, model.embedding,
                         ops.transpose(builder, values["ids"], [1, 0]), "embedding")  # (T, B, E)
    if "chars" in values:
        features = builder.node("Concat", [features, _char_features(builder, model,
                                                                    values["chars"])],
                                axis=2)  # (T, B, E+F)
    outputs, _, _ = add_recurrent(builder, model.rnn, features, values["lengths"])  # (T, B, 2H)
    emissions = ops.linear(builder, ops.transpose(builder, outputs, [1, 0, 2]), model.output,
                           "output")  # (B, T, C)
    output = TensorSpec("emissions", "float32", ("batch", "time", len(model.config.tags)))
    return ops.finish(builder, "tagger", inputs, [(emissions, output)],
                      "rnnkit tagger: per-step tag scores")


def tagger_graphs(model: Tagger) -> dict[str, ops.TaskGraph]:
    """The ``tagger`` graph of ``model`` (in eval mode)."""
    return {"tagger": tagger_graph(model)}


def crf_arrays(model: Tagger) -> dict[str, np.ndarray] | None:
    """A CRF tagger's scores as float32 arrays: ``transitions (C, C)`` (row: previous tag),
    ``start (C,)``, ``end (C,)``, forbidden moves set to ``FORBIDDEN``; None without a CRF."""
    if model.crf is None:
        return None
    with torch.no_grad():
        scores = model.crf.scores()
    return {name: score.detach().cpu().to(torch.float32).numpy()
            for name, score in zip(("transitions", "start", "end"), scores)}

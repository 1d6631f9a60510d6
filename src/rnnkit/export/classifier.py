"""The ONNX graph of a :class:`~rnnkit.models.Classifier`: ``ids``, ``lengths`` (and
``subwords``) → ``probabilities (B, C)``; every pooling kind (inputs and outputs:
:mod:`rnnkit.export.manifest`).

The graph runs time-major, as :func:`add_recurrent` wants: ``(T, B, D*H)`` outputs are pooled
over axis 0, so the recurrent output is never transposed.
"""

from __future__ import annotations

from onnx import TensorProto

from rnnkit.export import ops
from rnnkit.export.graph import GraphBuilder
from rnnkit.export.manifest import TensorSpec
from rnnkit.export.recurrent import add_recurrent
from rnnkit.models.classifier import Classifier


def input_specs(model: Classifier) -> list[TensorSpec]:
    specs = [TensorSpec("ids", "int64", ("batch", "time")),
             TensorSpec("lengths", "int64", ("batch",))]
    if model.subword_embedding is not None:
        specs.append(TensorSpec("subwords", "int64", ("batch", "time", "width")))
    return specs


def _subword_bags(builder: GraphBuilder, model: Classifier, subwords: str) -> str:
    """``mean_{g ≠ 0} E_gram[g]`` per token (0 for a token without n-grams), as the model's
    ``EmbeddingBag(mode="mean", padding_idx=0)``: ``(B, T, W)`` → ``(T, B, E)``."""
    grams = ops.transpose(builder, subwords, [1, 0, 2])  # (T, B, W)
    vectors = ops.embed(builder, model.subword_embedding.weight, grams, "subword_embedding")
    zero = ops.integer(builder, "zero_id", 0)
    present = builder.node("Cast", [builder.node("Not", [builder.node("Equal", [grams, zero])])],
                           to=TensorProto.FLOAT)  # (T, B, W) float: 1 at real n-grams
    weights = ops.unsqueeze(builder, present, [3])  # (T, B, W, 1)
    axis = ops.ints(builder, "gram_axis", [2])
    total = builder.node("ReduceSum", [builder.node("Mul", [vectors, weights]), axis],
                         keepdims=0)  # (T, B, E)
    count = builder.node("ReduceSum", [weights, axis], keepdims=0)  # (T, B, 1)
    count = builder.node("Max", [count, ops.scalar(builder, "one_float", 1.0)])
    return builder.node("Div", [total, count])  # (T, B, E)


def _pool(builder: GraphBuilder, model: Classifier, outputs: str, h_n: str,
          lengths: str, steps: str) -> str:
    """``pool(h_1..h_T)`` of :meth:`Classifier._pool`: ``(T, B, D*H)`` → ``(B, D*H)``."""
    pooling = model.config.pooling
    time_axis = ops.ints(builder, "time_axis", [0])
    if pooling == "mean":
        # Outputs past each length are zero, so the sum runs over the valid steps only.
        total = builder.node("ReduceSum", [outputs, time_axis], keepdims=0)  # (B, D*H)
        count = ops.unsqueeze(builder, builder.node("Cast", [lengths], to=TensorProto.FLOAT), [1])  # (B, 1)
        return builder.node("Div", [total, count])
    mask = ops.time_mask(builder, steps, lengths, time_major=True)  # (T, B)
    if pooling == "max":
        masked = builder.node("Where", [ops.unsqueeze(builder, mask, [2]), outputs,
                                        ops.scalar(builder, "minus_infinity", float("-inf"))])
        return builder.node("ReduceMax", [masked, time_axis], keepdims=0)  # (B, D*H)
    if pooling == "attention":
        # e_t = v^T tanh(W h_t + b), α = softmax(e) over the valid steps, s = Σ_t α_t h_t
        attention = model.attention
        projected = builder.node("Tanh", [ops.linear(builder, outputs, attention.project,
                                                     "attention_project")])  # (T, B, A)
        scores = ops.squeeze(builder, ops.linear(builder, projected, attention.score,
                                                 "attention_score"), [2])  # (T, B)
        weights = ops.masked_softmax(builder, scores, mask, axis=0)  # (T, B)
        weighted = builder.node("Mul", [ops.unsqueeze(builder, weights, [2]), outputs])
        return builder.node("ReduceSum", [weighted, time_axis], keepdims=0)  # (B, D*H)
    directions = 2 if model.config.bidirectional else 1
    return ops.top_layer_state(builder, h_n, model.config.num_layers, directions)  # (B, D*H)


def classifier_graph(model: Classifier) -> ops.TaskGraph:
    """``ids (B, T)``, ``lengths (B,)`` (``subwords (B, T, W)``) → ``probabilities (B, C)``."""
    builder = GraphBuilder("classifier")
    inputs = input_specs(model)
    values = ops.declare_inputs(builder, inputs)
    ids, lengths = values["ids"], values["lengths"]
    embedded = ops.embed(builder, model.embedding, ops.transpose(builder, ids, [1, 0]),
                         "embedding")  # (T, B, E)
    if "subwords" in values:
        embedded = builder.node("Add", [embedded, _subword_bags(builder, model,
                                                                values["subwords"])])
    outputs, h_n, _ = add_recurrent(builder, model.rnn, embedded, lengths)  # (T, B, D*H)
    pooled = _pool(builder, model, outputs, h_n, lengths, ops.size(builder, ids, 1))
    logits = ops.linear(builder, pooled, model.output, "output")  # (B, C)
    probabilities = builder.node("Softmax", [logits], axis=-1)  # (B, C)
    output = TensorSpec("probabilities", "float32", ("batch", model.config.num_classes))
    return ops.finish(builder, "classifier", inputs, [(probabilities, output)],
                      f"rnnkit classifier ({model.config.pooling} pooling): class "
                      "probabilities")


def classifier_graphs(model: Classifier) -> dict[str, ops.TaskGraph]:
    """The ``classifier`` graph of ``model`` (in eval mode)."""
    return {"classifier": classifier_graph(model)}

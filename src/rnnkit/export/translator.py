"""ONNX graphs of a :class:`~rnnkit.models.Seq2Seq` translator: the ``encoder`` (source →
memory and the first decoder state) and one ``decoder_step`` (inputs and outputs:
:mod:`rnnkit.export.manifest`); greedy and beam search run in Python over the step graph.

One decoder step, as :meth:`Seq2Seq.step` (Luong et al. 2015, with input feeding)::

    h_t, c_t = LSTMCell([E y_{t-1} ; h̃_{t-1}], (h_{t-1}, c_{t-1}))
    c_ctx, α_t = attention(h_t, memory, source mask)
    h̃_t = tanh(W_c [h_t ; c_ctx]),   log p(y_t | y_<t, x) = log_softmax(W_o h̃_t + b_o)
"""

from __future__ import annotations

from rnnkit.export import ops
from rnnkit.export.graph import GraphBuilder
from rnnkit.export.manifest import TensorSpec
from rnnkit.export.recurrent import add_recurrent, numpy_weights
from rnnkit.export.scan import add_cell_step
from rnnkit.models.attention import AdditiveAttention
from rnnkit.models.seq2seq import Seq2Seq


def _state_specs(model: Seq2Seq, suffix: str = "") -> list[TensorSpec]:
    hidden = model.config.hidden_size
    return [TensorSpec(f"{name}{suffix}", "float32", ("batch", hidden))
            for name in ("h", "c", "feed")]


def _memory_spec(model: Seq2Seq) -> TensorSpec:
    return TensorSpec("memory", "float32", ("batch", "source_time", model.config.memory_size))


def encoder_graph(model: Seq2Seq) -> ops.TaskGraph:
    """``source (B, S)``, ``lengths (B,)`` → ``memory (B, S, M)``, ``h``, ``c``, ``feed``."""
    builder = GraphBuilder("encoder")
    inputs = [TensorSpec("source", "int64", ("batch", "source_time")),
              TensorSpec("lengths", "int64", ("batch",))]
    values = ops.declare_inputs(builder, inputs)
    embedded = ops.embed(builder, model.source_embedding,
                         ops.transpose(builder, values["source"], [1, 0]),
                         "source_embedding")  # (S, B, E)
    states, h_n, _ = add_recurrent(builder, model.encoder, embedded,
                                   values["lengths"])  # (S, B, M), (L*D, B, H)
    memory = ops.transpose(builder, states, [1, 0, 2])  # (B, S, M)
    directions = 2 if model.config.bidirectional else 1
    final = ops.top_layer_state(builder, h_n, model.config.encoder_layers, directions)  # (B, M)
    bridged = builder.node("Tanh", [ops.linear(builder, final, model.bridge, "bridge")])
    h_0, c_0 = builder.node("Split", [bridged], outputs=2, axis=1, num_outputs=2)  # (B, H) each
    feed = builder.node("Mul", [h_0, ops.scalar(builder, "zero_float", 0.0)])  # zeros (B, H)
    outputs = [_memory_spec(model), *_state_specs(model)]
    return ops.finish(builder, "encoder", inputs, list(zip([memory, h_0, c_0, feed], outputs)),
                      "rnnkit translator: encoder and first decoder state")


def _attention(builder: GraphBuilder, model: Seq2Seq, query: str, memory: str,
               mask: str) -> tuple[str, str]:
    """Context ``(B, M)`` and weights ``(B, S)`` of the model's attention for ``query (B, H)``
    over ``memory (B, S, M)`` (``mask (B, S)``: True at real source steps)."""
    attention = model.attention
    if isinstance(attention, AdditiveAttention):
        # e_s = v^T tanh(W_q q + W_k k_s)
        queries = ops.unsqueeze(builder, ops.linear(builder, query, attention.query,
                                                    "attention_query"), [1])  # (B, 1, A)
        keys = ops.linear(builder, memory, attention.key, "attention_key")  # (B, S, A)
        hidden = builder.node("Tanh", [builder.node("Add", [queries, keys])])  # (B, S, A)
        scores = ops.squeeze(builder, ops.linear(builder, hidden, attention.score,
                                                 "attention_score"), [2])  # (B, S)
    else:
        # e_s = q^T W k_s
        keys = ops.linear(builder, memory, attention.key, "attention_key")  # (B, S, Q)
        scores = ops.squeeze(builder, builder.node(
            "MatMul", [keys, ops.unsqueeze(builder, query, [2])]), [2])  # (B, S, Q)@(B, Q, 1)
    weights = ops.masked_softmax(builder, scores, mask, axis=1)  # (B, S)
    context = builder.node("MatMul", [ops.unsqueeze(builder, weights, [1]), memory])  # (B, 1, M)
    return ops.squeeze(builder, context, [1]), weights


def decoder_step_graph(model: Seq2Seq) -> ops.TaskGraph:
    """``previous (B,)``, ``h``, ``c``, ``feed``, ``memory``, ``lengths`` → ``log_probs (B,
    V)``, ``h_out``, ``c_out``, ``feed_out``, ``attention (B, S)``."""
    builder = GraphBuilder("decoder_step")
    inputs = [TensorSpec("previous", "int64", ("batch",)), *_state_specs(model),
              _memory_spec(model), TensorSpec("lengths", "int64", ("batch",))]
    values = ops.declare_inputs(builder, inputs)
    embedded = ops.embed(builder, model.target_embedding, values["previous"],
                         "target_embedding")  # (B, E)
    cell_input = builder.node("Concat", [embedded, values["feed"]], axis=1)  # (B, E+H)
    cell = model.cell.config
    h, c = add_cell_step(builder, cell, numpy_weights(model.cell, cell), cell_input,
                         [values["h"], values["c"]])  # (B, H) each
    memory = values["memory"]
    mask = ops.time_mask(builder, ops.size(builder, memory, 1), values["lengths"],
                         time_major=False)  # (B, S)
    context, weights = _attention(builder, model, h, memory, mask)
    combined = builder.node("Concat", [h, context], axis=1)  # (B, H+M)
    attentional = builder.node("Tanh", [ops.linear(builder, combined, model.combine,
                                                   "combine")])  # (B, H)
    logits = ops.linear(builder, attentional, model.output, "output")  # (B, V)
    log_probs = builder.node("LogSoftmax", [logits], axis=-1)  # (B, V)
    outputs = [TensorSpec("log_probs", "float32", ("batch", model.config.target_vocab_size)),
               *_state_specs(model, "_out"),
               TensorSpec("attention", "float32", ("batch", "source_time"))]
    return ops.finish(builder, "decoder_step", inputs,
                      list(zip([log_probs, h, c, attentional, weights], outputs)),
                      "rnnkit translator: one decoder step with attention")


def translator_graphs(model: Seq2Seq) -> dict[str, ops.TaskGraph]:
    """The ``encoder`` and ``decoder_step`` graphs of ``model`` (in eval mode)."""
    return {"encoder": encoder_graph(model), "decoder_step": decoder_step_graph(model)}

"""ONNX graphs of a :class:`~rnnkit.models.LanguageModel`: the ``step`` graph that generation
runs and the ``score`` graph that scoring and evaluation run (inputs and outputs:
:mod:`rnnkit.export.manifest`).

Both graphs work time-major inside, as :func:`add_recurrent` wants: the ids are transposed
(cheap, int64 ``(B, T)``), never the embedded floats; the recurrent output is turned back to
batch-major before the vocabulary projection, because ``H_out`` is smaller than ``V``.
"""

from __future__ import annotations

from rnnkit.export import ops
from rnnkit.export.graph import GraphBuilder
from rnnkit.export.manifest import TensorSpec
from rnnkit.export.recurrent import add_recurrent
from rnnkit.models.language_model import LanguageModel


def state_specs(model: LanguageModel, suffix: str = "") -> list[TensorSpec]:
    """``h (L, B, H_out)`` and, for an LSTM, ``c (L, B, H)`` (names with ``suffix``)."""
    config = model.config
    specs = [TensorSpec(f"h{suffix}", "float32",
                        (config.num_layers, "batch", config.output_size))]
    if config.cell == "lstm":
        specs.append(TensorSpec(f"c{suffix}", "float32",
                                (config.num_layers, "batch", config.hidden_size)))
    return specs


def _hidden(builder: GraphBuilder, model: LanguageModel, values: dict[str, str],
            lengths: str | None) -> tuple[str, list[str]]:
    """Embedding and recurrent layers: ``(B, T, H_out)`` and the final state's values.

    ``lengths`` None: every row runs all ``T`` steps."""
    ids = values["ids"]
    steps = ops.size(builder, ids, 1)  # [T]
    if lengths is None:
        lengths = ops.full_lengths(builder, steps, ops.size(builder, ids, 0))  # (B,) all T
    embedded = ops.embed(builder, model.embedding, ops.transpose(builder, ids, [1, 0]),
                         "embedding")  # (T, B, E)
    output, h_n, c_n = add_recurrent(builder, model.rnn, embedded, lengths, values["h"],
                                     values.get("c"))  # (T, B, H_out)
    hidden = ops.transpose(builder, output, [1, 0, 2])  # (B, T, H_out)
    return hidden, [h_n] if c_n is None else [h_n, c_n]


def step_graph(model: LanguageModel) -> ops.TaskGraph:
    """``ids (B, T)``, state → ``logits (B, T, V)``, the state after the last step."""
    builder = GraphBuilder("lm_step")
    inputs = [TensorSpec("ids", "int64", ("batch", "time")), *state_specs(model)]
    values = ops.declare_inputs(builder, inputs)
    hidden, state = _hidden(builder, model, values, None)
    logits = ops.linear(builder, hidden, model.decoder, "decoder")  # (B, T, V)
    outputs = [TensorSpec("logits", "float32", ("batch", "time", model.config.vocab_size)),
               *state_specs(model, "_out")]
    return ops.finish(builder, "step", inputs, list(zip([logits, *state], outputs)),
                      "rnnkit language model: one call runs T steps of every row")


def score_graph(model: LanguageModel) -> ops.TaskGraph:
    """``ids``, ``targets``, ``lengths``, state → ``log_probs (B, T)`` of the targets (0 past
    each length) and the state after each row's last valid token."""
    builder = GraphBuilder("lm_score")
    inputs = [TensorSpec("ids", "int64", ("batch", "time")),
              TensorSpec("targets", "int64", ("batch", "time")),
              TensorSpec("lengths", "int64", ("batch",)), *state_specs(model)]
    values = ops.declare_inputs(builder, inputs)
    hidden, state = _hidden(builder, model, values, values["lengths"])
    logits = ops.linear(builder, hidden, model.decoder, "decoder")  # (B, T, V)
    log_softmax = builder.node("LogSoftmax", [logits], axis=-1)  # (B, T, V)
    # log p(y_t) = log_softmax(logits_t)[y_t]
    picked = builder.node("GatherElements",
                          [log_softmax, ops.unsqueeze(builder, values["targets"], [2])],
                          axis=2)  # (B, T, 1)
    picked = ops.squeeze(builder, picked, [2])  # (B, T)
    mask = ops.time_mask(builder, ops.size(builder, values["ids"], 1), values["lengths"],
                         time_major=False)  # (B, T)
    log_probs = builder.node("Where", [mask, picked, ops.scalar(builder, "zero_float", 0.0)])
    outputs = [TensorSpec("log_probs", "float32", ("batch", "time")),
               *state_specs(model, "_out")]
    return ops.finish(builder, "score", inputs, list(zip([log_probs, *state], outputs)),
                      "rnnkit language model: target log-probabilities of a padded batch")


def language_model_graphs(model: LanguageModel) -> dict[str, ops.TaskGraph]:
    """The ``step`` and ``score`` graphs of ``model`` (in eval mode)."""
    return {"step": step_graph(model), "score": score_graph(model)}

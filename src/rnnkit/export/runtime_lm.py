"""A language model's pipeline over its ``step`` graph (generation, in numpy: see
:mod:`rnnkit.export.sampling`) and ``score`` graph (scores and stream evaluation)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from rnnkit.export.backend import ExportBackend
from rnnkit.export.manifest import Manifest
from rnnkit.export.sampling import next_tokens
from rnnkit.export.sessions import Graph
from rnnkit.sampling_config import SamplingConfig
from rnnkit.tasks.lm_pipeline import IGNORE_INDEX, LanguageModelPipeline
from rnnkit.tasks.pipeline import Pipeline
from rnnkit.text import Vocab, get_tokenizer
from rnnkit.train.directory import VOCAB_FILE


class OnnxLanguageModelBackend(ExportBackend):
    """A language model's ``step`` graph (generation) and ``score`` graph (losses)."""

    def __init__(self, manifest: Manifest) -> None:
        self.step, self.scorer = Graph(manifest, "step"), Graph(manifest, "score")
        super().__init__([self.step, self.scorer])
        self.has_cell = "c" in self.step.inputs

    def _zeros(self, graph: Graph, name: str, batch: int) -> np.ndarray:
        layers, _, size = graph.inputs[name].shape  # (L, B, H)
        return np.zeros((layers, batch, size), dtype=np.float32)

    def _state(self, graph: Graph, state: Any, batch: int) -> dict[str, np.ndarray]:
        if state is not None:
            return state
        names = ("h", "c") if self.has_cell else ("h",)
        return {name: self._zeros(graph, name, batch) for name in names}

    def _state_after(self, output: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A graph's final state (``h_out``, ``c_out``) as the next call's ``h``, ``c``."""
        names = ("h", "c") if self.has_cell else ("h",)
        return {name: output[f"{name}_out"] for name in names}

    def sample_steps(self, prompt: list[int], config: SamplingConfig, num_samples: int,
                     seed: int | None) -> Iterator[np.ndarray]:
        if not prompt:
            raise ValueError("generate: prompt must hold at least one token id")
        generator = np.random.default_rng(seed)
        ids = np.asarray([prompt] * num_samples, dtype=np.int64)  # (B, T)
        output = self.step.run(ids=ids, **self._state(self.step, None, num_samples))
        finished = np.zeros(num_samples, dtype=bool)
        for step in range(config.max_new_tokens):
            token = next_tokens(output["logits"][:, -1], config, generator)  # (B,)
            yield token
            if config.stop_id is not None:
                finished |= token == config.stop_id
                if finished.all():
                    return
            if step + 1 == config.max_new_tokens:
                return
            output = self.step.run(ids=token[:, None],
                                   **self._state_after(output))  # one step: (B, 1)

    def window_loss(self, x: np.ndarray, y: np.ndarray, state: Any) -> tuple[float, Any]:
        lengths = np.full(len(x), x.shape[1], dtype=np.int64)  # (B,)
        valid = y != IGNORE_INDEX  # (B, T)
        output = self.scorer.run(ids=x, targets=np.where(valid, y, 0), lengths=lengths,
                                 **self._state(self.scorer, state, len(x)))
        log_probs = output["log_probs"] * valid  # (B, T)
        return float(-log_probs.sum() / valid.sum()), self._state_after(output)

    def trace_gates(self, ids: list[int], layer: int) -> dict[str, np.ndarray]:
        raise ValueError("inspect: an export directory's graphs give no gate values; load the "
                         "source model directory to trace gates")


def load_language_model(manifest: Manifest, config: dict[str, Any]) -> Pipeline:
    """The language model pipeline of an export, its vocabulary and hidden size checked
    against the step graph."""
    vocab = Vocab.load(manifest.directory / VOCAB_FILE)
    backend = OnnxLanguageModelBackend(manifest)
    backend.step.expect("logits", -1, len(vocab), "the vocabulary size",
                        str(manifest.directory / VOCAB_FILE))
    hidden = config["model"].get("hidden_size")
    if hidden is not None and not config["model"].get("rnn_options", {}).get("proj_size"):
        backend.step.expect("h", -1, hidden, "model.hidden_size",
                            str(manifest.directory / "config.json"))
    return LanguageModelPipeline(manifest.directory, config, backend, vocab,
                                 get_tokenizer(**config["data"]["tokenizer_config"]))

"""A translator's pipeline over its ``encoder`` and ``decoder_step`` graphs, greedy and beam
search in numpy (:mod:`rnnkit.export.search`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit.export.backend import ExportBackend
from rnnkit.export.manifest import Manifest
from rnnkit.export.search import DecoderState, Memory, beam_search, greedy
from rnnkit.export.sessions import Graph
from rnnkit.tasks.pipeline import Pipeline
from rnnkit.tasks.translator_pipeline import TranslatorPipeline
from rnnkit.tasks.translator_pipeline import read_vocabularies as read_translation_vocabularies


class OnnxTranslatorBackend(ExportBackend):
    """A translator's encoder and decoder-step graphs, searched in numpy."""

    def __init__(self, manifest: Manifest) -> None:
        self.encoder, self.decoder = Graph(manifest, "encoder"), Graph(manifest, "decoder_step")
        super().__init__([self.encoder, self.decoder])
        model = manifest.model  # the exported model's full config: every special id is there
        self.bos_id, self.eos_id, self.pad_id = model["bos_id"], model["eos_id"], model["pad_id"]

    def _encode(self, source: np.ndarray, lengths: np.ndarray
                ) -> tuple[Memory, DecoderState]:
        output = self.encoder.run(source=source, lengths=lengths)
        return (Memory(output["memory"], lengths),
                DecoderState(output["h"], output["c"], output["feed"]))

    def _step(self, previous: np.ndarray, state: DecoderState, memory: Memory
              ) -> tuple[np.ndarray, DecoderState, np.ndarray]:
        output = self.decoder.run(previous=previous, h=state.h, c=state.c, feed=state.feed,
                                  memory=memory.states, lengths=memory.lengths)
        return (output["log_probs"],
                DecoderState(output["h_out"], output["c_out"], output["feed_out"]),
                output.get("attention"))

    def decode(self, source: np.ndarray, lengths: np.ndarray, max_length: int,
               beam_width: int, length_penalty: float) -> list[list[int]]:
        memory, state = self._encode(source, lengths)
        if beam_width == 1:
            return greedy(self._step, memory, state, max_length, self.bos_id, self.eos_id)
        return beam_search(self._step, memory, state, max_length, beam_width, length_penalty,
                           self.bos_id, self.eos_id, self.pad_id)

    def attention(self, source_ids: list[int], output: list[int]) -> np.ndarray:
        if "attention" not in self.decoder.outputs:
            raise ValueError("translate: this export's decoder graph gives no attention "
                             "weights; return_attention needs them")
        memory, state = self._encode(np.asarray([source_ids], dtype=np.int64),
                                     np.asarray([len(source_ids)], dtype=np.int64))
        rows = []
        for previous in [self.bos_id, *output]:  # teacher-forced on what decoding fed it
            _, state, weights = self._step(np.asarray([previous], dtype=np.int64), state,
                                           memory)
            rows.append(weights[0])
        return np.stack(rows)  # (T + 1, S)


def load_translator(manifest: Manifest, config: dict[str, Any]) -> Pipeline:
    """The translator pipeline of an export, its target vocabulary and hidden size checked
    against the decoder-step graph."""
    vocabs = read_translation_vocabularies(manifest.directory)
    backend = OnnxTranslatorBackend(manifest)
    backend.decoder.expect("log_probs", -1, len(vocabs.target), "the target vocabulary size",
                           str(manifest.directory / "target_vocab.json"))
    hidden = config["model"].get("hidden_size")
    if hidden is not None:
        backend.decoder.expect("h", -1, hidden, "model.hidden_size",
                               str(manifest.directory / "config.json"))
    return TranslatorPipeline(manifest.directory, config, backend, vocabs)

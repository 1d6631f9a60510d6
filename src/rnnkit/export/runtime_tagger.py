"""A tagger's pipeline over its ``tagger`` graph: Viterbi in numpy over the emissions and the
CRF's scores of ``crf.npz`` (:mod:`rnnkit.export.viterbi`), or the argmax of a softmax
tagger."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit.export.backend import ExportBackend
from rnnkit.export.manifest import ExportDirectoryError, Manifest
from rnnkit.export.sessions import Graph
from rnnkit.export.viterbi import negative_log_likelihood, viterbi
from rnnkit.tasks.pipeline import Pipeline
from rnnkit.tasks.tagger_pipeline import TaggerPipeline, read_vocabularies


class OnnxTaggerBackend(ExportBackend):
    """A tagger's emissions graph, decoded by Viterbi in numpy (a CRF) or the argmax."""

    def __init__(self, manifest: Manifest) -> None:
        self.graph = Graph(manifest, "tagger")
        super().__init__([self.graph])
        self.crf = manifest.crf() if manifest.decoder == "viterbi" else None
        self.loss_unit = "sentences" if self.crf is not None else "tokens"

    def _emissions(self, words: np.ndarray, lengths: np.ndarray,
                   chars: np.ndarray) -> np.ndarray:
        return self.graph.run(ids=words, lengths=lengths, chars=chars)["emissions"]  # (B, T, C)

    def decode(self, words: np.ndarray, lengths: np.ndarray,
               chars: np.ndarray) -> list[list[int]]:
        emissions = self._emissions(words, lengths, chars)
        if self.crf is not None:
            return viterbi(emissions, lengths, **self.crf)
        best = emissions.argmax(axis=-1)  # (B, T)
        return [best[row, :length].tolist() for row, length in enumerate(lengths.tolist())]

    def loss(self, words: np.ndarray, lengths: np.ndarray, chars: np.ndarray,
             tags: np.ndarray) -> float:
        emissions = self._emissions(words, lengths, chars).astype(np.float64)  # (B, T, C)
        if self.crf is not None:
            crf = {name: value.astype(np.float64) for name, value in self.crf.items()}
            return float(negative_log_likelihood(emissions, lengths, tags, **crf).mean())
        mask = np.arange(words.shape[1])[None, :] < lengths[:, None]  # (B, T)
        peak = emissions.max(axis=-1, keepdims=True)
        log_z = np.log(np.exp(emissions - peak).sum(axis=-1)) + peak[..., 0]  # (B, T)
        gold = np.take_along_axis(emissions, tags[..., None], axis=-1)[..., 0]  # (B, T)
        return float((log_z - gold)[mask].mean())


def load_tagger(manifest: Manifest, config: dict[str, Any]) -> Pipeline:
    """The tagger pipeline of an export, its tags checked against the graph and the CRF
    scores."""
    vocabs = read_vocabularies(manifest.directory)
    backend = OnnxTaggerBackend(manifest)
    backend.graph.expect("emissions", -1, len(vocabs.tags), "the number of tags",
                         str(manifest.directory / "tags.json"))
    if backend.crf is not None and len(backend.crf["start"]) != len(vocabs.tags):
        raise ExportDirectoryError(
            f"{manifest.directory / 'crf.npz'} does not match "
            f"{manifest.directory / 'tags.json'}: {len(vocabs.tags)} tags there but "
            f"{len(backend.crf['start'])} CRF scores; re-export the model directory")
    return TaggerPipeline(manifest.directory, config, backend, vocabs)

"""A classifier's pipeline member over its ``classifier`` graph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rnnkit.data.arrays import lengths_array, pad_array, pad_nested_array
from rnnkit.export.backend import ExportBackend
from rnnkit.export.manifest import Manifest
from rnnkit.export.sessions import Graph
from rnnkit.tasks.classification_data import data_from_section
from rnnkit.tasks.classifier_pipeline import ClassifierMember
from rnnkit.tasks.common import ordered_batches, read_string_list
from rnnkit.text import SubwordHasher, Vocab, get_tokenizer
from rnnkit.train.directory import VOCAB_FILE


class OnnxClassifierBackend(ExportBackend):
    """A classifier's graph: ids, lengths (and subwords) → probabilities."""

    def __init__(self, manifest: Manifest) -> None:
        self.graph = Graph(manifest, "classifier")
        super().__init__([self.graph])

    def probabilities(self, ids: Sequence[Sequence[int]],
                      subwords: Sequence[Sequence[Sequence[int]]] | None,
                      batch_size: int = 64) -> np.ndarray:
        probabilities = None
        for indices in ordered_batches(ids, batch_size):
            chosen = [ids[index] for index in indices]
            inputs = {"ids": pad_array(chosen), "lengths": lengths_array(chosen)}  # (B, T), (B,)
            if subwords is not None:
                inputs["subwords"] = pad_nested_array([subwords[i] for i in indices])
            rows = self.graph.run(**inputs)["probabilities"]  # (B, C)
            if probabilities is None:
                probabilities = np.empty((len(ids), rows.shape[1]), dtype=np.float32)
            probabilities[indices] = rows
        return probabilities


def load_classifier_member(manifest: Manifest, config: dict[str, Any]) -> ClassifierMember:
    """One classifier of an export (an ensemble has several), its labels checked against
    the graph's classes."""
    labels_path = manifest.directory / "labels.json"
    labels = read_string_list(labels_path, "label")
    backend = OnnxClassifierBackend(manifest)
    backend.graph.expect("probabilities", -1, len(labels), "the number of labels",
                         str(labels_path))
    vocab = Vocab.load(manifest.directory / VOCAB_FILE)
    model = manifest.model
    hasher = (SubwordHasher(model["subword_buckets"], model["subword_min_n"],
                            model["subword_max_n"]) if model.get("subword_buckets") else None)
    return ClassifierMember(manifest.directory, backend, vocab, labels,
                            get_tokenizer(**config["data"]["tokenizer_config"]),
                            data_from_section(config["data"]), hasher)

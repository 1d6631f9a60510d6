"""Using trained classifiers, torch-free: the classifier pipeline — one model, or several
whose probabilities are averaged (an ensemble) — and its reports. Each member's numbers come
from a :class:`ClassifierBackend`: the torch model
(:class:`rnnkit.tasks.classifier_scoring.TorchClassifierBackend`) or an exported graph on
onnxruntime (:mod:`rnnkit.export.runtime_classifier`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from rnnkit.data.labelled import read_examples
from rnnkit.tasks.classification_data import (
    ClassificationData,
    EncodedTexts,
    encode_labelled,
    encode_texts,
)
from rnnkit.tasks.metrics import classification_report
from rnnkit.tasks.pipeline import Pipeline
from rnnkit.text import SubwordHasher, Tokenizer, Vocab

TASK = "classify"


class ClassifierBackend(Protocol):
    """What computes for one classifier of a :class:`ClassifierPipeline`."""

    device: Any
    parameter_count: int

    def probabilities(self, ids: Sequence[Sequence[int]],
                      subwords: Sequence[Sequence[Sequence[int]]] | None) -> np.ndarray:
        """Float32 ``(N, C)`` class probabilities of each id list (with each token's subword
        ids when the model reads them), in input order."""


def report_of(probabilities: Any, gold: Sequence[int], labels: Sequence[str]
              ) -> dict[str, Any]:
    """Mean loss ``-log p(gold)`` (``p`` clamped to 1e-12) and :func:`classification_report`
    of class probabilities ``(N, C)`` (an array or a CPU tensor) against gold label ids
    ``(N,)``."""
    probabilities = np.asarray(probabilities, dtype=np.float32)  # (N, C)
    gold_ids = np.asarray(gold, dtype=np.int64)  # (N,)
    chosen = probabilities[np.arange(len(gold_ids)), gold_ids]  # (N,)
    loss = float(-np.log(np.maximum(chosen, np.float32(1e-12))).mean())
    report = classification_report(list(gold), probabilities.argmax(-1).tolist(), labels)
    return {"loss": loss, **report}


def mean_of(runs: Iterable[np.ndarray]) -> np.ndarray:
    """``(N, C)``: the average of one or more ``(N, C)`` probability arrays."""
    total, count = None, 0
    for probabilities in runs:
        total = probabilities if total is None else total + probabilities
        count += 1
    return total / count


@dataclass(frozen=True)
class ClassifierMember:
    """One trained classifier: its backend and how it reads texts (an ensemble has several)."""

    directory: Path
    backend: ClassifierBackend
    vocab: Vocab
    labels: list[str]
    tokenizer: Tokenizer
    data: ClassificationData
    hasher: SubwordHasher | None = None  # the model's subword hasher (its cache kept)

    @property
    def model(self) -> Any:
        """The member's PyTorch module (an exported member has none: its backend says so)."""
        return self.backend.model

    def encode(self, texts: Sequence[str], source: str) -> EncodedTexts:
        """The texts as this model's ids (and subword ids), cut to its ``max_length``."""
        return encode_texts(texts, self.tokenizer, self.vocab, self.data.max_length, source,
                            hasher=self.hasher)


class Prediction(NamedTuple):
    label: str
    probabilities: dict[str, float]  # label → probability, in the model's label order


class ClassifierPipeline(Pipeline):
    """Label texts with a classifier, or with an ensemble whose members' probabilities are
    averaged (each member reads the texts with its own tokenizer and vocabulary)."""

    task = TASK

    def __init__(self, members: Sequence[ClassifierMember], config: dict[str, Any]) -> None:
        members = list(members)
        if not members:
            raise ValueError("ClassifierPipeline: expected at least one classifier, got none")
        for index, member in enumerate(members[1:], start=2):
            if member.labels != members[0].labels:
                raise ValueError(f"classifier {index} of the ensemble has the labels "
                                 f"{member.labels}, the first {members[0].labels}; an "
                                 "ensemble's models must share them, in order")
        super().__init__(members[0].directory, config, backend=members[0].backend)
        self.members = members

    @property
    def labels(self) -> list[str]:
        return list(self.members[0].labels)

    @property
    def parameter_count(self) -> int | None:
        counts = [member.backend.parameter_count for member in self.members]
        return None if None in counts else sum(counts)

    @property
    def vocabulary_sizes(self) -> dict[str, int]:
        """The words each member reads (``words``; ``words_2`` … for further members)."""
        return {"words" if index == 1 else f"words_{index}": len(member.vocab)
                for index, member in enumerate(self.members, start=1)}

    def predict(self, texts: str | Sequence[str], source: str = "input"
                ) -> Prediction | list[Prediction]:
        """The most likely label and every label's probability: one :class:`Prediction`
        for a string, a list of them for a list of texts."""
        batch = [texts] if isinstance(texts, str) else list(texts)
        if not batch:
            raise ValueError(f"{source}: no texts to classify (the input is empty)")

        def run(member: ClassifierMember) -> np.ndarray:
            encoded = member.encode(batch, source)
            return member.backend.probabilities(encoded.ids, encoded.subwords)  # (N, C)

        labels = self.labels
        predictions = [
            Prediction(labels[int(row.argmax())],
                       {label: float(p) for label, p in zip(labels, row)})
            for row in mean_of(run(member) for member in self.members)  # (N, C)
        ]
        return predictions[0] if isinstance(texts, str) else predictions

    def evaluate(self, path: str | Path, format: str | None = None) -> dict[str, Any]:
        """Loss, accuracy, macro-F1, per-class report and confusion matrix on a labelled file
        (read in the training data's ``format`` and columns unless ``format`` is given); for
        an ensemble, of the averaged probabilities — its members must read the same examples
        from the file (format and columns) and keep the same ones (a text without tokens is
        skipped, so their tokenizers must agree on which those are)."""
        runs, first, kept, gold = [], None, None, []
        for index, member in enumerate(self.members, start=1):
            data = member.data
            examples = read_examples(path, format or data.format, data.text_column,
                                     data.label_column)
            if first is not None and examples != first:
                raise ValueError(f"{path}: classifier {index} of the ensemble reads other "
                                 "examples than the first (their formats or columns differ)")
            labelled, encoded = encode_labelled(examples, member.tokenizer, member.vocab,
                                                self.labels, data, str(path), member.hasher)
            if kept is not None and encoded.kept != kept:
                raise ValueError(f"{path}: classifier {index} of the ensemble keeps other "
                                 "examples than the first (their tokenizers differ)")
            runs.append(member.backend.probabilities(labelled.ids, labelled.subwords))
            first, gold, kept = examples, labelled.labels, encoded.kept
        return {**report_of(mean_of(runs), gold, self.labels), "examples": len(gold)}

    def __repr__(self) -> str:
        if len(self.members) == 1:
            return super().__repr__()
        return (f"ClassifierPipeline(task={self.task!r}, ensemble of {len(self.members)}: "
                f"{[str(member.directory) for member in self.members]}, labels={self.labels})")

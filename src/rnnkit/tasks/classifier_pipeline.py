"""Using trained classifiers: class probabilities, reports, and the classifier pipeline —
one model, or several whose probabilities are averaged (an ensemble)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.data import read_examples
from rnnkit.models.classifier import Classifier
from rnnkit.tasks.classification_data import (
    ClassificationData,
    EncodedTexts,
    LabelledIds,
    encode_labelled,
    encode_texts,
    make_batch,
)
from rnnkit.tasks.common import ordered_batches
from rnnkit.tasks.contract import Pipeline
from rnnkit.tasks.metrics import classification_report
from rnnkit.text import SubwordHasher, Tokenizer, Vocab

TASK = "classify"


@torch.no_grad()
def predict_probabilities(
    model: Classifier, ids: Sequence[Sequence[int]], batch_size: int = 64,
    subwords: Sequence[Sequence[Sequence[int]]] | None = None,
) -> Tensor:
    """Class probabilities FloatTensor ``(N, C)`` (on the CPU) in the order of ``ids``."""
    model.eval()
    device = next(model.parameters()).device
    probabilities = torch.empty(len(ids), model.config.num_classes)  # (N, C)
    for indices in ordered_batches(ids, batch_size):
        batch = make_batch([ids[index] for index in indices], subwords=None if subwords is None
                           else [subwords[index] for index in indices])
        logits = model(batch.padded.ids.to(device), batch.padded.lengths,
                       subwords=None if batch.subwords is None
                       else batch.subwords.to(device)).logits  # (B, C)
        probabilities[indices] = torch.softmax(logits, dim=-1).cpu()
    return probabilities


def score(
    model: Classifier, data: LabelledIds, labels: Sequence[str], batch_size: int = 64
) -> dict[str, Any]:
    """Mean loss and :func:`classification_report` of ``model`` on labelled ids."""
    probabilities = predict_probabilities(model, data.ids, batch_size, data.subwords)  # (N, C)
    return report_of(probabilities, data.labels, labels)


def report_of(probabilities: Tensor, gold: Sequence[int], labels: Sequence[str]
              ) -> dict[str, Any]:
    """Mean loss ``-log p(gold)`` and :func:`classification_report` of class probabilities
    ``(N, C)`` against gold label ids ``(N,)``."""
    loss = F.nll_loss(probabilities.clamp_min(1e-12).log(), torch.tensor(gold)).item()
    report = classification_report(list(gold), probabilities.argmax(-1).tolist(), labels)
    return {"loss": loss, **report}


def mean_probabilities(
    runs: Iterable[tuple[Classifier, Sequence[Sequence[int]], Sequence | None]]
) -> Tensor:
    """``(N, C)``: the class probabilities of each ``(model, ids, subwords)`` run (the same N
    examples, each model's own encoding; at least one run), averaged over the runs."""
    total, count = None, 0
    for model, ids, subwords in runs:
        probabilities = predict_probabilities(model, ids, subwords=subwords)  # (N, C)
        total = probabilities if total is None else total + probabilities
        count += 1
    return total / count


@dataclass(frozen=True)
class ClassifierMember:
    """One trained classifier: its model and how it reads texts (an ensemble has several)."""

    directory: Path
    model: Classifier
    vocab: Vocab
    labels: list[str]
    tokenizer: Tokenizer
    data: ClassificationData
    hasher: SubwordHasher | None = None  # the model's subword hasher (its cache kept)

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
        super().__init__(members[0].directory, config, members[0].model)
        self.members = members

    @property
    def labels(self) -> list[str]:
        return list(self.members[0].labels)

    @property
    def parameter_count(self) -> int:
        return sum(parameter.numel() for member in self.members
                   for parameter in member.model.parameters())

    @property
    def vocabulary_sizes(self) -> dict[str, int]:
        """The words each member reads (``words``; ``words_2`` … for further members)."""
        return {"words" if index == 1 else f"words_{index}": len(member.vocab)
                for index, member in enumerate(self.members, start=1)}

    @torch.inference_mode()
    def predict(self, texts: str | Sequence[str], source: str = "input"
                ) -> Prediction | list[Prediction]:
        """The most likely label and every label's probability: one :class:`Prediction`
        for a string, a list of them for a list of texts."""
        batch = [texts] if isinstance(texts, str) else list(texts)
        if not batch:
            raise ValueError(f"{source}: no texts to classify (the input is empty)")

        def run(member: ClassifierMember) -> tuple[Classifier, list, list | None]:
            encoded = member.encode(batch, source)
            return member.model, encoded.ids, encoded.subwords

        labels = self.labels
        predictions = [
            Prediction(labels[int(row.argmax())],
                       {label: float(p) for label, p in zip(labels, row)})
            for row in mean_probabilities(run(member) for member in self.members)  # (N, C)
        ]
        return predictions[0] if isinstance(texts, str) else predictions

    @torch.inference_mode()
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
            runs.append((member.model, labelled.ids, labelled.subwords))
            first, gold, kept = examples, labelled.labels, encoded.kept
        return {**report_of(mean_probabilities(runs), gold, self.labels),
                "examples": len(gold)}

    def __repr__(self) -> str:
        if len(self.members) == 1:
            return super().__repr__()
        return (f"ClassifierPipeline(task={self.task!r}, ensemble of {len(self.members)}: "
                f"{[str(member.directory) for member in self.members]}, labels={self.labels})")

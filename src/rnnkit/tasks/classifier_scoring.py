"""Classifier batches, probabilities and reports computed with torch: the torch backend of
:class:`rnnkit.tasks.classifier_pipeline.ClassifierPipeline`, and the functions training,
distillation and the validation report use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from rnnkit.data import Batch, collate, pad_nested
from rnnkit.models.classifier import Classifier
from rnnkit.tasks.classification_data import LabelledIds
from rnnkit.tasks.classifier_pipeline import report_of
from rnnkit.tasks.common import ordered_batches
from rnnkit.tasks.pipeline import ModelBackend


class ClassBatch(NamedTuple):
    padded: Batch  # ids (B, T), lengths (B,), mask (B, T)
    targets: Tensor | None  # (B,) class ids, or (B, C) target probabilities
    subwords: Tensor | None  # (B, T, G), 0-padded


def make_batch(ids: Sequence[Sequence[int]], labels: Sequence[int] | None = None,
               subwords: Sequence[Sequence[Sequence[int]]] | None = None,
               soft: Tensor | None = None) -> ClassBatch:
    """Pad ids (and each token's subword ids) into a :class:`ClassBatch`; ``soft (B, C)``
    probabilities, when given, are its targets instead of ``labels``."""
    if soft is not None:
        targets = soft
    else:
        targets = None if labels is None else torch.tensor(labels, dtype=torch.long)
    return ClassBatch(collate(ids), targets, None if subwords is None else pad_nested(subwords))


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
    """Mean loss and :func:`rnnkit.tasks.metrics.classification_report` of ``model`` on
    labelled ids."""
    probabilities = predict_probabilities(model, data.ids, batch_size, data.subwords)  # (N, C)
    return report_of(probabilities.numpy(), data.labels, labels)


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


class TorchClassifierBackend(ModelBackend):
    """A :class:`Classifier` as one member's backend of a classifier pipeline."""

    def __init__(self, model: Classifier) -> None:
        super().__init__(model)

    @torch.inference_mode()
    def probabilities(self, ids: Sequence[Sequence[int]],
                      subwords: Sequence[Sequence[Sequence[int]]] | None) -> np.ndarray:
        return predict_probabilities(self.model, ids, subwords=subwords).numpy()

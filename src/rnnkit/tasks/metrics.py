"""Classification metrics from gold and predicted class ids: accuracy, macro-F1, a per-class
report and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(gold: Sequence[int], predicted: Sequence[int], num_classes: int) -> np.ndarray:
    """IntArray ``(C, C)``: row = gold class, column = predicted class."""
    if len(gold) != len(predicted):
        raise ValueError(f"confusion_matrix: gold and predicted must have equal lengths, got "
                         f"{len(gold)} and {len(predicted)}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)  # (C, C)
    np.add.at(matrix, (np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def classification_report(
    gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str]
) -> dict[str, Any]:
    """``accuracy``, ``macro_f1`` (unweighted mean of the per-class F1), ``per_class`` (label →
    precision, recall, f1, support) and ``confusion`` (list of rows, gold × predicted).

    Precision ``P_c = TP_c / (TP_c + FP_c)``, recall ``R_c = TP_c / (TP_c + FN_c)``,
    ``F1_c = 2 P_c R_c / (P_c + R_c)``; a ratio with a zero denominator is 0.
    """
    if not gold:
        raise ValueError("classification_report: expected at least one example, got none")
    matrix = confusion_matrix(gold, predicted, len(labels))
    true_positive = np.diag(matrix).astype(np.float64)  # (C,)
    predicted_count = matrix.sum(axis=0)  # (C,)
    support = matrix.sum(axis=1)  # (C,)
    precision = np.divide(true_positive, predicted_count, out=np.zeros_like(true_positive),
                          where=predicted_count > 0)
    recall = np.divide(true_positive, support, out=np.zeros_like(true_positive),
                       where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(true_positive),
                   where=denominator > 0)
    return {
        "accuracy": float(true_positive.sum() / matrix.sum()),
        "macro_f1": float(f1.mean()),
        "per_class": {
            label: {"precision": float(precision[index]), "recall": float(recall[index]),
                    "f1": float(f1[index]), "support": int(support[index])}
            for index, label in enumerate(labels)
        },
        "confusion": matrix.tolist(),
    }

"""Distillation: trained classifiers (teachers) label random spans of the training texts, and
copies with random tokens masked, as soft targets for a new classifier.

The spans stand in for the phrase-level labels a treebank would give; a masked token is the
unknown word, without subword features, for the teachers and the new model alike (Tang et al.,
2019). :class:`rnnkit.tasks.classification_data.ClassificationData` documents the options.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from rnnkit.data import sample_masked_copies, sample_spans
from rnnkit.models.classifier import Classifier
from rnnkit.tasks.classification_data import ClassificationData, LabelledIds, training_examples
from rnnkit.tasks.classifier_pipeline import TASK, ClassifierMember
from rnnkit.tasks.classifier_scoring import mean_probabilities
from rnnkit.tasks.contract import load
from rnnkit.train.directory import ModelDirectoryError


def load_teachers(
    directories: Sequence[str], tokenizer_config: dict[str, Any], labels: Sequence[str]
) -> list[ClassifierMember]:
    """The trained classifiers in ``directories``; each must split texts with
    ``tokenizer_config`` and know exactly ``labels`` (a ValueError names the one that
    does not)."""
    teachers = []
    for directory in directories:
        try:
            pipeline = load(directory)
        except ModelDirectoryError as error:
            raise ModelDirectoryError(f"teacher {directory}: {error}") from error
        if pipeline.task != TASK:
            raise ValueError(f"teacher {directory}: holds a {pipeline.task!r} model; a teacher "
                             "must be a classifier")
        teacher = pipeline.members[0]
        if teacher.tokenizer.config() != tokenizer_config:
            raise ValueError(f"teacher {directory}: its tokenizer {teacher.tokenizer.config()} "
                             f"differs from this run's {tokenizer_config}; a teacher must "
                             "split texts the same way")
        if teacher.labels != list(labels):
            raise ValueError(f"teacher {directory}: its labels {teacher.labels} differ from "
                             f"the training file's {list(labels)}")
        teachers.append(teacher)
    return teachers


def validation_seen_by_teacher(examples: tuple[list, list], teacher: ClassificationData) -> int:
    """How many of this run's validation examples (``examples``: its (train, valid)) a teacher
    trained on, not counting texts this run trains on too; texts compared as read. The
    teacher's files are read from here, as its directory stores them."""
    train, valid = examples
    seen = {text for text, _ in training_examples(teacher)} - {text for text, _ in train}
    return sum(text in seen for text, _ in valid)


def warn_if_teachers_saw_validation(directories: Sequence[str],
                                    teachers: Sequence[ClassifierMember],
                                    examples: tuple[list, list]) -> None:
    """A warning naming each teacher that trained on this run's validation examples — its
    targets would carry their labels into training, and the validation figures (and the epoch
    they select) would flatter the student — or whose training file cannot be read here."""
    counts: dict[ClassificationData, int | Exception] = {}  # teachers often share their data
    for directory, teacher in zip(directories, teachers):
        if teacher.data not in counts:
            try:
                counts[teacher.data] = validation_seen_by_teacher(examples, teacher.data)
            except (OSError, ValueError) as error:
                counts[teacher.data] = error
        seen = counts[teacher.data]
        if isinstance(seen, Exception):
            warnings.warn(f"teacher {directory}: cannot check whether it trained on this run's "
                          f"validation examples ({seen})", stacklevel=2)
            continue
        if seen:
            warnings.warn(f"teacher {directory} was trained on {seen} of this run's "
                          f"{len(examples[1])} validation examples; the validation figures "
                          "will be optimistic", stacklevel=2)


def teacher_probabilities(
    teachers: Sequence[ClassifierMember], token_lists: Sequence[Sequence[str]],
    progress: bool = False, masked: Sequence[Sequence[int]] | None = None,
) -> Tensor:
    """``(N, C)``: the teachers' class probabilities of each token list, averaged;
    ``masked[i]``: positions of list ``i`` that each teacher reads as its unknown word, without
    subword features; ``progress`` shows a bar over the teachers."""
    if not teachers:
        raise ValueError("teacher_probabilities: no teachers given")
    if masked is None:
        masked = [()] * len(token_lists)
    if len(masked) != len(token_lists) or any(
            not 0 <= position < len(tokens)
            for tokens, positions in zip(token_lists, masked) for position in positions):
        raise ValueError("teacher_probabilities: masked must hold positions inside each of "
                         f"the {len(token_lists)} token lists, got {len(masked)} lists")

    def run(teacher: ClassifierMember) -> tuple[Classifier, list, list | None]:
        ids = [_blanked(teacher.vocab.encode(tokens), positions, teacher.vocab.unk_id)
               for tokens, positions in zip(token_lists, masked)]
        subwords = (None if teacher.hasher is None
                    else [_blanked(teacher.hasher.encode(tokens), positions, ())
                          for tokens, positions in zip(token_lists, masked)])
        return teacher.model, ids, subwords

    return mean_probabilities(run(teacher) for teacher in tqdm(
        teachers, desc=f"teachers label {len(token_lists)} texts", unit="teacher",
        disable=not progress))


Item = TypeVar("Item")


def _blanked(values: Sequence[Item], positions: Sequence[int], blank: Item) -> list[Item]:
    """``values`` with those at ``positions`` replaced by ``blank`` (a copy)."""
    values = list(values)
    for position in positions:
        values[position] = blank
    return values


class _Excerpt(NamedTuple):
    """A teacher's input: tokens ``start:stop`` of training text ``text``, ``masked``
    positions (relative to ``start``) blanked."""

    text: int
    start: int
    stop: int
    masked: tuple[int, ...] = ()


def with_teacher_targets(
    train: LabelledIds, token_lists: Sequence[Sequence[str]],
    teachers: Sequence[ClassifierMember], per_text: int, seed: int, *, masked_copies: int = 0,
    mask_prob: float = 0.15, unk_id: int = 1, progress: bool = False,
) -> LabelledIds:
    """``train`` with soft targets: its examples keep their gold labels (as one-hot rows),
    followed by ``per_text`` sampled spans of each (:func:`sample_spans`, with ``seed``) and
    then by ``masked_copies`` copies of each with tokens masked with probability
    ``mask_prob`` (:func:`sample_masked_copies`, with ``seed + 1``; a masked token becomes
    ``unk_id``, the new model's unknown word, without subwords); their targets are
    :func:`teacher_probabilities`.
    ``token_lists[i]`` are the (cut) tokens behind ``train.ids[i]``."""
    if [len(tokens) for tokens in token_lists] != [len(ids) for ids in train.ids]:
        raise ValueError("with_teacher_targets: token_lists must hold the tokens behind each "
                         "of train.ids (the same count and lengths)")
    lengths = [len(ids) for ids in train.ids]
    excerpts = [_Excerpt(*span) for span in sample_spans(lengths, per_text, seed)]
    if masked_copies:
        excerpts += [_Excerpt(copy.text, 0, lengths[copy.text], copy.masked)
                     for copy in sample_masked_copies(lengths, masked_copies, mask_prob,
                                                      seed + 1)]
    probabilities = teacher_probabilities(
        teachers, [token_lists[excerpt.text][excerpt.start:excerpt.stop] for excerpt in excerpts],
        progress, masked=[excerpt.masked for excerpt in excerpts])  # (S, C)
    gold = F.one_hot(torch.tensor(train.labels), probabilities.shape[1]).to(probabilities)
    subwords = None
    if train.subwords is not None:
        subwords = train.subwords + [
            _blanked(train.subwords[excerpt.text][excerpt.start:excerpt.stop], excerpt.masked, ())
            for excerpt in excerpts]
    return LabelledIds(
        train.ids + [_blanked(train.ids[excerpt.text][excerpt.start:excerpt.stop],
                              excerpt.masked, unk_id) for excerpt in excerpts],
        train.labels + probabilities.argmax(dim=1).tolist(),  # the teachers' choice
        subwords,
        torch.cat([gold, probabilities]),  # (N + S, C)
    )

"""Text classification: labelled file → vocabulary → bucketed padded batches → Classifier.

Input files (``format``): ``tsv`` / ``csv`` are read by :func:`rnnkit.data.read_labeled`
(header names such as ``label,review`` are recognised); ``label-first`` is one example per
line, ``<label> <text>`` separated by the first space (SST-2's files); ``auto`` picks by
suffix (``.tsv``/``.tab``, ``.csv``), else a tab in the first line means TSV, else
label-first. A TSV/CSV file whose first row names no known column (``label``, ``text``,
``review``, …) is read as ``text<sep>label`` unless the columns are given.

Texts longer than ``max_length`` tokens are cut to their first ``max_length`` tokens, with a
warning that counts them. A text with no tokens is an error at prediction time (naming the
source and example); in training and evaluation files it is skipped with a warning (the
ChnSentiCorp file has one empty review).
A label in an evaluation file that training never saw is an error listing the known labels.

Trained classifiers can teach a new one (``ClassificationData.teachers``): they label random
spans of the training texts (and, if asked, copies with random words masked), and the new
model learns those soft targets besides the gold labels (:func:`with_teacher_targets`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from rnnkit.data import (
    Batch,
    BucketBatchSampler,
    collate,
    iter_lines,
    load_vectors,
    pad_nested,
    read_labeled,
    sample_masked_copies,
    sample_spans,
)
from rnnkit.data.readers import LABEL_NAMES, TEXT_NAMES
from rnnkit.models.classifier import Classifier, ClassifierConfig
from rnnkit.tasks.metrics import classification_report
from rnnkit.tasks.selection import SELECT_LOSS, callbacks_for, check_select
from rnnkit.text import SubwordHasher, Tokenizer, Vocab, get_tokenizer
from rnnkit.train import StepOutput, TrainConfig, Trainer
from rnnkit.train.model_dir import (
    VOCAB_FILE,
    WEIGHTS_FILE,
    ModelDirectoryError,
    load_weights,
    read_config,
    require_files,
    write_config,
    write_json,
)
from rnnkit.train.plots import plot_confusion

TASK = "classify"
FORMATS = ("auto", "tsv", "csv", "label-first")
TOKENIZER_NAMES = ("word", "whitespace", "char", "chinese", "auto")
LABELS_FILE = "labels.json"
REPORT_FILE = "valid_report.json"
SELECT_CHOICES = ("accuracy", "macro_f1", "loss")
CONFUSION_PLOT = "confusion.png"


@dataclass(frozen=True)
class ClassificationData:
    """Where the examples come from and how they become batches (config.json ``data``).

    Without ``valid``, a ``valid_fraction`` of the training examples, drawn with
    ``split_seed``, is held out for validation.

    ``teachers`` (trained classification directories with this run's tokenizer and labels)
    distil them into the new model: ``span_samples`` random spans of each training text
    (:func:`rnnkit.data.sample_spans`, seeded by the training seed) join the training
    examples, each with the teachers' averaged class probabilities as its target; the
    texts themselves keep their gold labels. The spans stand in for the phrase-level labels
    a treebank would give. A text of ``n`` tokens gives at most ``min(span_samples, n(n-1)/2
    - 1)`` spans, one of 2 tokens or fewer none. ``masked_copies`` copies of each training
    text, each token masked with probability ``mask_prob``
    (:func:`rnnkit.data.sample_masked_copies`, seeded by the training seed + 1), join them
    the same way: a masked token is the unknown word, without subword features, for the
    teachers and the new model alike (Tang et al., 2019); a copy that happens to mask
    nothing is the text itself, with the teachers' target. ``--resume`` labels the same
    spans and copies again, so it needs the teachers' directories where they were. The
    logged training loss then averages over them too, so it does not compare with a run
    without teachers.
    """

    train: str
    valid: str | None = None
    format: str = "auto"
    text_column: str | int | None = None
    label_column: str | int | None = None
    tokenizer: str = "word"
    lowercase: bool = False
    max_length: int = 400
    max_vocab: int | None = None
    min_freq: int = 1
    batch_size: int = 32
    valid_fraction: float = 0.1
    split_seed: int = 0
    vectors: str | None = None
    teachers: tuple[str, ...] = ()
    span_samples: int = 8
    masked_copies: int = 0
    mask_prob: float = 0.15

    def __post_init__(self) -> None:
        if isinstance(self.teachers, str):
            raise TypeError(f"teachers must be a sequence of model directories, got the "
                            f"string {self.teachers!r}")
        object.__setattr__(self, "teachers", tuple(str(path) for path in self.teachers))
        for name in ("span_samples", "masked_copies"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {value!r}")
        if self.masked_copies < 0:
            raise ValueError(f"masked_copies must be >= 0, got {self.masked_copies}")
        if isinstance(self.mask_prob, bool) or not isinstance(self.mask_prob, (int, float)):
            raise TypeError(f"mask_prob must be a number, got {self.mask_prob!r}")
        if not 0 < self.mask_prob <= 1:
            raise ValueError(f"mask_prob must be in (0, 1], got {self.mask_prob!r}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.tokenizer not in TOKENIZER_NAMES:
            raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZER_NAMES)}, got "
                             f"{self.tokenizer!r}")
        for name in ("max_length", "min_freq", "batch_size", "span_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.valid is None and not 0 < self.valid_fraction < 1:
            raise ValueError(f"valid_fraction must be in (0, 1), got {self.valid_fraction}")

    def make_tokenizer(self) -> Tokenizer:
        if self.tokenizer in ("word", "auto"):
            return get_tokenizer(self.tokenizer, lowercase=self.lowercase)
        return get_tokenizer(self.tokenizer)


def _resolve_format(path: Path, format: str) -> str:
    if format != "auto":
        return format
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "tsv"
    if suffix == ".csv":
        return "csv"
    first = next(iter_lines(path), (0, ""))[1]
    return "tsv" if "\t" in first else "label-first"


def read_label_first(path: str | Path) -> Iterator[tuple[str, str]]:
    """``(text, label)`` per non-blank line ``<label> <text>`` (the label is the first
    space-separated field), as in SST-2's ``stsa.binary.*`` files."""
    found = False
    for line_number, line in iter_lines(path):
        if not line.strip():
            continue
        label, _, text = line.strip().partition(" ")
        if not text.strip():
            raise ValueError(f"{path}:{line_number}: expected '<label> <text>', got only "
                             f"{label!r}")
        found = True
        yield text, label
    if not found:
        raise ValueError(f"read_label_first: {path} holds no examples (the file is empty or "
                         "blank)")


def read_examples(
    path: str | Path,
    format: str = "auto",
    text_column: str | int | None = None,
    label_column: str | int | None = None,
) -> list[tuple[str, str]]:
    """``(text, label)`` pairs of a labelled file in one of :data:`FORMATS`."""
    path = Path(path)
    resolved = _resolve_format(path, format)
    if resolved == "label-first":
        return list(read_label_first(path))
    delimiter = "\t" if resolved == "tsv" else ","
    if text_column is None and label_column is None and not _has_known_header(path, delimiter):
        text_column, label_column = 0, -1
    return list(read_labeled(path, text_column, label_column, delimiter=delimiter))


def _has_known_header(path: Path, delimiter: str) -> bool:
    first = next(iter_lines(path), (0, ""))[1]
    names = {name.strip().strip('"').lower() for name in first.split(delimiter)}
    return bool(names & {*LABEL_NAMES, *TEXT_NAMES})


class EncodedTexts(NamedTuple):
    ids: list[list[int]]  # word ids of each kept text
    kept: list[int]  # index of each kept text in the input
    subwords: list[list[tuple[int, ...]]] | None  # each token's subword ids, with a hasher
    tokens: list[list[str]]  # the (cut) tokens of each kept text


def encode_texts(
    texts: Sequence[str], tokenizer: Tokenizer, vocab: Vocab, max_length: int, source: str,
    skip_empty: bool = False, hasher: SubwordHasher | None = None,
) -> EncodedTexts:
    """Ids of each text cut to ``max_length`` (one warning counts the cut texts), the
    indices of the texts kept, with a ``hasher`` each token's subword ids, and the kept
    texts' cut tokens.

    A text with no tokens is a ValueError naming ``source`` and the example number, or, with
    ``skip_empty``, left out with a warning (training and evaluation files).
    """
    encoded, kept, subwords, kept_tokens, empty, cut = [], [], [], [], [], 0
    for index, text in enumerate(texts):
        tokens = tokenizer.tokenize(text)
        if not tokens:
            if not skip_empty:
                raise ValueError(f"{source}: example {index + 1} has no tokens (empty text)")
            empty.append(index + 1)
            continue
        cut += len(tokens) > max_length
        tokens = tokens[:max_length]
        encoded.append(vocab.encode(tokens))
        kept.append(index)
        kept_tokens.append(tokens)
        if hasher is not None:
            subwords.append(hasher.encode(tokens))
    if empty:
        warnings.warn(f"{source}: skipped {len(empty)} examples with no tokens (empty text), "
                      f"the first is example {empty[0]}", stacklevel=2)
    if cut:
        warnings.warn(f"{source}: {cut} of {len(texts)} texts are longer than max_length="
                      f"{max_length} tokens and were cut to their first {max_length}",
                      stacklevel=2)
    return EncodedTexts(encoded, kept, subwords if hasher is not None else None, kept_tokens)


def label_ids(labels: Sequence[str], known: Sequence[str], source: str) -> list[int]:
    """Index of each label in ``known``; an unknown label is a ValueError listing them."""
    index = {label: position for position, label in enumerate(known)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"{source}: labels {unknown[:5]} were never seen in training; the "
                         f"model knows {list(known)}")
    return [index[label] for label in labels]


def split_held_out(
    examples: Sequence[Any], fraction: float, seed: int
) -> tuple[list[Any], list[Any]]:
    """``(kept, held_out)``: a seeded random ``fraction`` of the examples held out."""
    order = np.random.default_rng(seed).permutation(len(examples))
    held = max(1, round(fraction * len(examples)))
    if held >= len(examples):
        raise ValueError(f"valid_fraction={fraction} of {len(examples)} examples leaves none "
                         "to train on; pass a validation file")
    return ([examples[i] for i in sorted(order[held:])],
            [examples[i] for i in sorted(order[:held])])


class LabelledIds(NamedTuple):
    ids: list[list[int]]
    labels: list[int]
    subwords: list[list[tuple[int, ...]]] | None = None  # per token, for subword features
    soft: Tensor | None = None  # (N, C) target probabilities that replace labels in training

    def subset(self, indices: Sequence[int]) -> LabelledIds:
        return LabelledIds([self.ids[i] for i in indices], [self.labels[i] for i in indices],
                           None if self.subwords is None else [self.subwords[i] for i in indices],
                           None if self.soft is None else self.soft[list(indices)])


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


def ordered_batches(ids: Sequence[Sequence[int]], batch_size: int) -> list[list[int]]:
    """Index batches of similar lengths (sorted, no shuffling) for evaluation."""
    order = sorted(range(len(ids)), key=lambda index: len(ids[index]))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


@torch.no_grad()
def predict_probabilities(
    model: Classifier, ids: Sequence[Sequence[int]], batch_size: int = 64,
    subwords: Sequence[Sequence[Sequence[int]]] | None = None,
) -> Tensor:
    """Class probabilities FloatTensor ``(N, C)`` in the order of ``ids``."""
    model.eval()
    probabilities = torch.empty(len(ids), model.config.num_classes)  # (N, C)
    for indices in ordered_batches(ids, batch_size):
        batch = make_batch([ids[index] for index in indices], subwords=None if subwords is None
                           else [subwords[index] for index in indices])
        logits = model(batch.padded.ids, batch.padded.lengths,
                       subwords=batch.subwords).logits  # (B, C)
        probabilities[indices] = torch.softmax(logits, dim=-1)
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


class ClassificationTask:
    """The trainer's view of classification (see ``rnnkit.train.TrainingTask``)."""

    name = "classifier"
    unit = "examples"

    def __init__(self, train: LabelledIds, valid: LabelledIds | None, labels: Sequence[str],
                 batch_size: int, seed: int) -> None:
        self.train = train
        self.valid = valid
        self.labels = list(labels)
        self.sampler = BucketBatchSampler([len(ids) for ids in train.ids], batch_size,
                                          seed=seed)
        self.batch_size = batch_size

    def train_batches(self, epoch: int) -> list[ClassBatch]:
        self.sampler.set_epoch(epoch)
        return [make_batch(*self.train.subset(indices)) for indices in self.sampler]

    def train_step(self, model: nn.Module, batch: ClassBatch, carry: Any) -> StepOutput:
        output = model(batch.padded.ids, batch.padded.lengths, batch.targets, batch.subwords)
        return StepOutput(output.loss, len(batch.targets))

    def evaluate(self, model: nn.Module) -> dict[str, float] | None:
        if self.valid is None:
            return None
        report = score(model, self.valid, self.labels, self.batch_size)
        return {name: report[name] for name in ("loss", "accuracy", "macro_f1")}

    def describe(self, loss: float) -> dict[str, float]:
        return {}


@dataclass
class LoadedClassifier:
    """A trained classification directory, ready to predict and evaluate."""

    model: Classifier
    vocab: Vocab
    labels: list[str]
    tokenizer: Tokenizer
    data: ClassificationData
    config: dict[str, Any]
    hasher: SubwordHasher | None = None  # the model's subword hasher (its cache kept across calls)


class Prediction(NamedTuple):
    label: str
    probabilities: dict[str, float]  # label → probability, in the model's label order


def _data_section(data: ClassificationData) -> dict[str, Any]:
    return {**asdict(data), "tokenizer_config": data.make_tokenizer().config()}


def _data_from_section(section: dict[str, Any]) -> ClassificationData:
    fields = dict(section)
    fields.pop("tokenizer_config")
    return ClassificationData(**fields)


def _labelled(examples: Sequence[tuple[str, str]], tokenizer: Tokenizer, vocab: Vocab,
              labels: Sequence[str], data: ClassificationData, source: str,
              hasher: SubwordHasher | None) -> tuple[LabelledIds, EncodedTexts]:
    """The examples' ids, label ids and subwords, and their encoding (the cut tokens behind
    each, the indices of the examples kept)."""
    encoded = encode_texts([text for text, _ in examples], tokenizer, vocab, data.max_length,
                           source, skip_empty=True, hasher=hasher)
    if not encoded.ids:
        raise ValueError(f"{source}: no example has any tokens")
    return LabelledIds(encoded.ids,
                       label_ids([examples[index][1] for index in encoded.kept], labels, source),
                       encoded.subwords), encoded


def _read(data: ClassificationData, path: str) -> list[tuple[str, str]]:
    return read_examples(path, data.format, data.text_column, data.label_column)


def _examples(data: ClassificationData) -> tuple[list, list]:
    """The run's (train, valid) examples: its validation file's, or a held-out split."""
    train = _read(data, data.train)
    if data.valid is not None:
        return train, _read(data, data.valid)
    return split_held_out(train, data.valid_fraction, data.split_seed)


def _training_examples(data: ClassificationData) -> list:
    """The examples the run trains on (without reading a validation file it has)."""
    return _read(data, data.train) if data.valid is not None else _examples(data)[0]


def train_classifier(
    data: ClassificationData,
    model_options: dict[str, Any],
    train: TrainConfig,
    out_dir: str | Path,
    quiet: bool = False,
    callbacks=(),
    select: str = "accuracy",
) -> Trainer:
    """Read and encode the data, write the model directory and train; then write the
    validation report (``valid_report.json``) and ``confusion.png`` of the kept weights.

    ``select`` is the validation figure whose best epoch's weights are kept
    (:mod:`rnnkit.tasks.selection`; ``loss`` keeps the trainer's choice)."""
    check_select(select, SELECT_CHOICES)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = data.make_tokenizer()
    examples = _examples(data)
    train_examples = examples[0]
    vocab = Vocab.build((tokenizer.tokenize(text) for text, _ in train_examples),
                        max_size=data.max_vocab, min_freq=data.min_freq)
    labels = sorted({label for _, label in train_examples})
    if len(labels) < 2:
        raise ValueError(f"{data.train}: expected at least 2 distinct labels, got {labels}")
    teachers = load_teachers(data.teachers, tokenizer.config(), labels)  # before any writing
    warn_if_teachers_saw_validation(data.teachers, teachers, examples)
    embeddings = None
    if data.vectors is not None:
        embeddings = load_vectors(data.vectors, vocab).weights
        model_options = {**model_options, "embed_size": embeddings.shape[1]}
    model_config = ClassifierConfig(vocab_size=len(vocab), unk_id=vocab.unk_id,
                                    num_classes=len(labels),
                                    **model_options)
    vocab.save(out_dir / VOCAB_FILE)
    write_json(out_dir / LABELS_FILE, labels)
    write_config(out_dir, TASK, {"model": model_config.to_dict(), "data": _data_section(data),
                                 "train": train.to_dict(), "select": select})
    trainer = _trainer(out_dir, quiet, callbacks, embeddings, teachers, examples)
    trainer.fit()
    write_valid_report(out_dir, trainer.task)
    return trainer


def resume_classifier(out_dir: str | Path, quiet: bool = False, callbacks=()) -> Trainer:
    """Continue an interrupted run of :func:`train_classifier` exactly where it stopped."""
    trainer = _trainer(Path(out_dir), quiet, callbacks)
    trainer.fit(resume=True)
    write_valid_report(Path(out_dir), trainer.task)
    return trainer


def _trainer(out_dir: Path, quiet: bool, callbacks, embeddings: Tensor | None = None,
             teachers: Sequence[LoadedClassifier] | None = None,
             examples: tuple[list, list] | None = None) -> Trainer:
    """The trainer of the run in ``out_dir``; ``teachers``: its teachers already loaded
    (else loaded from the config's directories); ``examples``: its (train, valid) examples
    already read (else read from the config's files)."""
    config = read_config(out_dir, TASK)
    data = _data_from_section(config["data"])
    tokenizer = get_tokenizer(**config["data"]["tokenizer_config"])
    vocab = Vocab.load(out_dir / VOCAB_FILE)
    labels = _read_labels(out_dir)
    model_config = ClassifierConfig.from_dict(config["model"])
    hasher = model_config.subword_hasher()
    train_examples, valid_examples = examples if examples is not None else _examples(data)
    train_ids, encoded = _labelled(train_examples, tokenizer, vocab, labels, data, data.train,
                                   hasher)
    train_config = TrainConfig.from_dict(config["train"])
    if data.teachers:
        if teachers is None:
            teachers = load_teachers(data.teachers, tokenizer.config(), labels)
        train_ids = with_teacher_targets(
            train_ids, encoded.tokens, teachers, data.span_samples, train_config.seed,
            masked_copies=data.masked_copies, mask_prob=data.mask_prob, unk_id=vocab.unk_id,
            progress=not quiet)
    valid_source = data.valid or f"{data.train} (held-out {data.valid_fraction:g})"
    valid_ids, _ = _labelled(valid_examples, tokenizer, vocab, labels, data, valid_source,
                             hasher)
    task = ClassificationTask(train_ids, valid_ids, labels, data.batch_size, train_config.seed)
    torch.manual_seed(train_config.seed)
    model = Classifier(model_config, embeddings)
    return Trainer(model, task, train_config, out_dir, quiet=quiet,
                   callbacks=callbacks_for(config.get("select", SELECT_LOSS), out_dir, callbacks))


def load_teachers(
    directories: Sequence[str], tokenizer_config: dict[str, Any], labels: Sequence[str]
) -> list[LoadedClassifier]:
    """The trained classifiers in ``directories``; each must split texts with
    ``tokenizer_config`` and know exactly ``labels`` (a ValueError names the one that
    does not)."""
    teachers = []
    for directory in directories:
        try:
            teacher = load_classifier(directory)
        except ModelDirectoryError as error:
            raise ModelDirectoryError(f"teacher {directory}: {error}") from error
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
    seen = {text for text, _ in _training_examples(teacher)} - {text for text, _ in train}
    return sum(text in seen for text, _ in valid)


def warn_if_teachers_saw_validation(directories: Sequence[str],
                                    teachers: Sequence[LoadedClassifier],
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


def _mean_probabilities(
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


def teacher_probabilities(
    teachers: Sequence[LoadedClassifier], token_lists: Sequence[Sequence[str]],
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
    def run(teacher: LoadedClassifier) -> tuple[Classifier, list, list | None]:
        ids = [_blanked(teacher.vocab.encode(tokens), positions, teacher.vocab.unk_id)
               for tokens, positions in zip(token_lists, masked)]
        subwords = (None if teacher.hasher is None
                    else [_blanked(teacher.hasher.encode(tokens), positions, ())
                          for tokens, positions in zip(token_lists, masked)])
        return teacher.model, ids, subwords

    return _mean_probabilities(run(teacher) for teacher in tqdm(
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
    teachers: Sequence[LoadedClassifier], per_text: int, seed: int, *, masked_copies: int = 0,
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


def write_valid_report(out_dir: Path, task: ClassificationTask) -> dict[str, Any]:
    """Score the saved (best) weights on the validation data; write the report and plot."""
    loaded = load_classifier(out_dir)
    report = score(loaded.model, task.valid, loaded.labels, task.batch_size)
    write_json(out_dir / REPORT_FILE, report)
    plot_confusion(report["confusion"], loaded.labels, out_dir / CONFUSION_PLOT,
                   f"validation: accuracy {report['accuracy']:.3f}")
    return report


def _read_labels(directory: Path) -> list[str]:
    labels = json.loads((directory / LABELS_FILE).read_text("utf-8"))
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"{directory / LABELS_FILE}: expected a JSON list of label strings")
    return labels


def load_classifier(directory: str | Path) -> LoadedClassifier:
    """Load a model directory written by :func:`train_classifier`."""
    directory = require_files(directory, "config.json", VOCAB_FILE, LABELS_FILE, WEIGHTS_FILE)
    config = read_config(directory, TASK)
    model = Classifier(ClassifierConfig.from_dict(config["model"]))
    load_weights(directory, model)
    model.eval()
    return LoadedClassifier(model, Vocab.load(directory / VOCAB_FILE), _read_labels(directory),
                            get_tokenizer(**config["data"]["tokenizer_config"]),
                            _data_from_section(config["data"]), config,
                            model.config.subword_hasher())


Models = LoadedClassifier | Sequence[LoadedClassifier]
"""One classifier, or several whose class probabilities are averaged (an ensemble)."""


def ensemble_labels(models: Models) -> tuple[list[LoadedClassifier], list[str]]:
    """``models`` as a list, and the labels they share; a ValueError when there is none or
    when one knows other labels (an ensemble averages probabilities label by label)."""
    models = [models] if isinstance(models, LoadedClassifier) else list(models)
    if not models:
        raise ValueError("expected at least one classifier, got none")
    for index, model in enumerate(models[1:], start=2):
        if model.labels != models[0].labels:
            raise ValueError(f"classifier {index} of the ensemble has the labels "
                             f"{model.labels}, the first {models[0].labels}; an ensemble's "
                             "models must share them, in order")
    return models, models[0].labels


def predict_texts(models: Models, texts: Sequence[str], source: str = "input"
                  ) -> list[Prediction]:
    """The most likely label and every label's probability for each text; with several
    models, their probabilities averaged (each model reads the texts with its own tokenizer
    and vocabulary)."""
    models, labels = ensemble_labels(models)
    if not texts:
        raise ValueError(f"{source}: no texts to classify (the input is empty)")
    def run(loaded: LoadedClassifier) -> tuple[Classifier, list, list | None]:
        encoded = encode_texts(texts, loaded.tokenizer, loaded.vocab, loaded.data.max_length,
                               source, hasher=loaded.hasher)
        return loaded.model, encoded.ids, encoded.subwords

    return [
        Prediction(labels[int(row.argmax())], {label: float(p) for label, p in zip(labels, row)})
        for row in _mean_probabilities(run(loaded) for loaded in models)  # (N, C)
    ]


def evaluate_classifier(models: Models, path: str | Path, format: str | None = None
                        ) -> dict[str, Any]:
    """Loss, accuracy, macro-F1, per-class report and confusion matrix on a labelled file
    (read in the training data's ``format`` and columns unless ``format`` is given); with
    several models, of their averaged probabilities — the models must read the same
    examples from the file (format and columns) and keep the same ones (a text without
    tokens is skipped, so their tokenizers must agree on which those are)."""
    models, labels = ensemble_labels(models)
    runs, first, kept = [], None, None
    for index, loaded in enumerate(models, start=1):
        data = loaded.data
        examples = read_examples(path, format or data.format, data.text_column,
                                 data.label_column)
        if first is not None and examples != first:
            raise ValueError(f"{path}: classifier {index} of the ensemble reads other examples "
                             "than the first (their formats or columns differ)")
        labelled, encoded = _labelled(examples, loaded.tokenizer, loaded.vocab, labels, data,
                                      str(path), loaded.hasher)
        if kept is not None and encoded.kept != kept:
            raise ValueError(f"{path}: classifier {index} of the ensemble keeps other "
                             "examples than the first (their tokenizers differ)")
        runs.append((loaded.model, labelled.ids, labelled.subwords))
        first, gold, kept = examples, labelled.labels, encoded.kept
    return {**report_of(_mean_probabilities(runs), gold, labels), "examples": len(gold)}

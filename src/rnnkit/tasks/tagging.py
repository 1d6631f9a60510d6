"""Sequence tagging (NER): CoNLL file → word, character and tag vocabularies → bucketed padded
batches → Tagger (BiLSTM + char features + CRF or softmax); entity-level P/R/F1 by seqeval.

Input and output are CoNLL column files (``token ... tag`` per line, blank line between
sentences, ``-DOCSTART-`` skipped; a line with a different number of columns is an error
naming ``file:line``). Words are never cut (a sentence is as long as it is); a word longer
than ``max_word_length`` characters keeps its first ones for the character encoder. A tag in
an evaluation file that training never saw is an error listing the known tags.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from seqeval.metrics import classification_report as entity_report
from seqeval.metrics import f1_score, precision_score, recall_score
from torch import Tensor, nn

from rnnkit.data import BucketBatchSampler, iter_lines, pad_nested, pad_sequences, read_conll
from rnnkit.models.tagger import Tagger, TaggerConfig
from rnnkit.tasks.classification import label_ids, ordered_batches, split_held_out
from rnnkit.tasks.selection import SELECT_LOSS, callbacks_for, check_select
from rnnkit.text import Vocab
from rnnkit.train import StepOutput, TrainConfig, Trainer
from rnnkit.train.model_dir import (
    VOCAB_FILE,
    WEIGHTS_FILE,
    load_weights,
    read_config,
    require_files,
    write_config,
    write_json,
)

TASK = "tag"
CHARS_FILE = "chars.json"
TAGS_FILE = "tags.json"
SCHEME_CHOICES = ("auto", "BIO", "BIOES", "none")
SELECT_CHOICES = ("f1", "loss")


@dataclass(frozen=True)
class TaggingData:
    """Where the sentences come from and how they become batches (config.json ``data``).

    ``lowercase`` lowercases the word-embedding input (the characters keep their case).
    Without ``valid``, a ``valid_fraction`` of the sentences (seeded) is held out.
    """

    train: str
    valid: str | None = None
    token_column: int = 0
    tag_column: int = -1
    lowercase: bool = False
    max_word_length: int = 20
    max_vocab: int | None = None
    min_freq: int = 1
    batch_size: int = 16
    valid_fraction: float = 0.1
    split_seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_word_length", "min_freq", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.valid is None and not 0 < self.valid_fraction < 1:
            raise ValueError(f"valid_fraction must be in (0, 1), got {self.valid_fraction}")


def detect_scheme(tags: Sequence[str]) -> str:
    """``BIOES`` when any tag starts with ``E-``/``S-``, ``BIO`` when any starts with ``B-``/
    ``I-``, else ``none``."""
    prefixes = {tag.split("-", 1)[0] for tag in tags if "-" in tag}
    if prefixes & {"E", "S"}:
        return "BIOES"
    return "BIO" if prefixes & {"B", "I"} else "none"


class Encoded(NamedTuple):
    """Sentences as ids: ``words`` and ``chars`` (per word) lists, ``tags`` (empty lists when
    the tags are unknown)."""

    words: list[list[int]]
    chars: list[list[list[int]]]
    tags: list[list[int]]


class Vocabularies(NamedTuple):
    words: Vocab
    chars: Vocab
    tags: list[str]


def encode_sentences(sentences: Sequence[Sequence[str]], vocabs: Vocabularies,
                     data: TaggingData) -> tuple[list[list[int]], list[list[list[int]]]]:
    """Word ids and per-word character ids of tokenized sentences."""
    words, chars = [], []
    for tokens in sentences:
        words.append(vocabs.words.encode([t.lower() if data.lowercase else t for t in tokens]))
        chars.append([vocabs.chars.encode(list(token[:data.max_word_length]))
                      for token in tokens])
    return words, chars


def _encode(sentences: Sequence[tuple[list[str], list[str]]], vocabs: Vocabularies,
            data: TaggingData, source: str) -> Encoded:
    words, chars = encode_sentences([tokens for tokens, _ in sentences], vocabs, data)
    tags = [label_ids(tags, vocabs.tags, source) for _, tags in sentences]
    return Encoded(words, chars, tags)


class TagBatch(NamedTuple):
    words: Tensor  # (B, T)
    lengths: Tensor  # (B,)
    chars: Tensor  # (B, T, C)
    tags: Tensor | None  # (B, T), 0 past each length


def make_batch(words: Sequence[list[int]], chars: Sequence[list[list[int]]],
               tags: Sequence[list[int]] | None = None) -> TagBatch:
    """Pad a list of sentences into a :class:`TagBatch`."""
    padded = pad_sequences(words)  # (B, T)
    lengths = torch.tensor([len(sentence) for sentence in words])  # (B,)
    return TagBatch(padded, lengths, pad_nested(chars),  # chars (B, T, C)
                    pad_sequences(tags) if tags is not None else None)


def _subset(encoded: Encoded, indices: Sequence[int]) -> TagBatch:
    return make_batch([encoded.words[i] for i in indices], [encoded.chars[i] for i in indices],
                      [encoded.tags[i] for i in indices])


def _count(model: Tagger, batch: TagBatch) -> int:
    """How many of ``model.config.loss_unit`` the batch holds (the mean loss's divisor)."""
    if model.config.loss_unit == "sentences":
        return len(batch.lengths)
    return int(batch.lengths.sum())


@torch.no_grad()
def decode_all(model: Tagger, words: list[list[int]], chars: list[list[list[int]]],
               batch_size: int = 64) -> list[list[int]]:
    """Best tag ids of every sentence, in input order."""
    model.eval()
    paths: list[list[int]] = [[] for _ in words]
    for indices in ordered_batches(words, batch_size):
        batch = make_batch([words[i] for i in indices], [chars[i] for i in indices])
        for index, path in zip(indices, model.decode(batch.words, batch.lengths, batch.chars)):
            paths[index] = path
    return paths


@torch.no_grad()
def score(model: Tagger, encoded: Encoded, tags: Sequence[str],
          batch_size: int = 64) -> dict[str, Any]:
    """Mean loss, token accuracy and entity-level precision/recall/F1 (seqeval, as conlleval)
    with the per-type report."""
    model.eval()
    total, count = 0.0, 0
    for indices in ordered_batches(encoded.words, batch_size):
        batch = _subset(encoded, indices)
        loss = model(batch.words, batch.lengths, batch.chars, batch.tags).loss
        total += float(loss) * _count(model, batch)
        count += _count(model, batch)
    predicted = decode_all(model, encoded.words, encoded.chars, batch_size)
    gold_names = [[tags[i] for i in sentence] for sentence in encoded.tags]
    predicted_names = [[tags[i] for i in sentence] for sentence in predicted]
    correct = sum(g == p for gs, ps in zip(encoded.tags, predicted) for g, p in zip(gs, ps))
    report = entity_report(gold_names, predicted_names, output_dict=True, zero_division=0)
    return {
        "loss": total / count,
        "precision": float(precision_score(gold_names, predicted_names, zero_division=0)),
        "recall": float(recall_score(gold_names, predicted_names, zero_division=0)),
        "f1": float(f1_score(gold_names, predicted_names, zero_division=0)),
        "token_accuracy": correct / sum(map(len, encoded.tags)),
        "per_type": {name: {key: float(value) for key, value in row.items()}
                     for name, row in report.items()},
    }


class TaggingTask:
    """The trainer's view of tagging (see ``rnnkit.train.TrainingTask``)."""

    name = "tagger"

    def __init__(self, train: Encoded, valid: Encoded, tags: Sequence[str], batch_size: int,
                 seed: int, unit: str) -> None:
        self.unit = unit  # the model's TaggerConfig.loss_unit
        self.train = train
        self.valid = valid
        self.tags = list(tags)
        self.batch_size = batch_size
        self.sampler = BucketBatchSampler([len(words) for words in train.words], batch_size,
                                          seed=seed)

    def train_batches(self, epoch: int) -> list[TagBatch]:
        self.sampler.set_epoch(epoch)
        return [_subset(self.train, indices) for indices in self.sampler]

    def train_step(self, model: nn.Module, batch: TagBatch, carry: Any) -> StepOutput:
        output = model(batch.words, batch.lengths, batch.chars, batch.tags)
        return StepOutput(output.loss, _count(model, batch))

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        report = score(model, self.valid, self.tags, 64)
        return {name: report[name] for name in ("loss", "precision", "recall", "f1")}

    def describe(self, loss: float) -> dict[str, float]:
        return {}


def _sentences(data: TaggingData) -> tuple[list, list]:
    def read(path: str) -> list:
        return list(read_conll(path, token_column=data.token_column, tag_column=data.tag_column))

    train = read(data.train)
    if data.valid is not None:
        return train, read(data.valid)
    return split_held_out(train, data.valid_fraction, data.split_seed)


def train_tagger(data: TaggingData, model_options: dict[str, Any], train: TrainConfig,
                 out_dir: str | Path, quiet: bool = False, callbacks=(),
                 select: str = "f1") -> Trainer:
    """Read the CoNLL files, write the model directory and train.

    ``model_options`` are :class:`TaggerConfig` fields; ``scheme="auto"`` (the default here)
    takes the scheme from the training tags (:func:`detect_scheme`). ``select`` is the
    validation figure whose best epoch's weights are kept (``loss``: the trainer's choice)."""
    check_select(select, SELECT_CHOICES)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sentences, _ = _sentences(data)
    words = Vocab.build(([t.lower() if data.lowercase else t for t in tokens]
                         for tokens, _ in sentences),
                        max_size=data.max_vocab, min_freq=data.min_freq)
    chars = Vocab.build(list(token) for tokens, _ in sentences for token in tokens)
    tags = sorted({tag for _, sentence_tags in sentences for tag in sentence_tags})
    options = dict(model_options)
    scheme = options.pop("scheme", "auto")
    if scheme not in SCHEME_CHOICES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEME_CHOICES)}, got {scheme!r}")
    model_config = TaggerConfig(
        vocab_size=len(words), unk_id=words.unk_id, tags=tuple(tags), char_vocab_size=len(chars),
        scheme=detect_scheme(tags) if scheme == "auto" else scheme, **options)
    words.save(out_dir / VOCAB_FILE)
    chars.save(out_dir / CHARS_FILE)
    write_json(out_dir / TAGS_FILE, tags)
    write_config(out_dir, TASK, {"model": model_config.to_dict(), "data": asdict(data),
                                 "train": train.to_dict(), "select": select})
    trainer = _trainer(out_dir, quiet, callbacks)
    trainer.fit()
    return trainer


def resume_tagger(out_dir: str | Path, quiet: bool = False, callbacks=()) -> Trainer:
    """Continue an interrupted run of :func:`train_tagger` exactly where it stopped."""
    trainer = _trainer(Path(out_dir), quiet, callbacks)
    trainer.fit(resume=True)
    return trainer


def _vocabularies(directory: Path) -> Vocabularies:
    tags = json.loads((directory / TAGS_FILE).read_text("utf-8"))
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ValueError(f"{directory / TAGS_FILE}: expected a JSON list of tag strings")
    return Vocabularies(Vocab.load(directory / VOCAB_FILE), Vocab.load(directory / CHARS_FILE),
                        tags)


def _trainer(out_dir: Path, quiet: bool, callbacks) -> Trainer:
    config = read_config(out_dir, TASK)
    data = TaggingData(**config["data"])
    vocabs = _vocabularies(out_dir)
    train_sentences, valid_sentences = _sentences(data)
    train_ids = _encode(train_sentences, vocabs, data, data.train)
    valid_source = data.valid or f"{data.train} (held-out {data.valid_fraction:g})"
    valid_ids = _encode(valid_sentences, vocabs, data, valid_source)
    train_config = TrainConfig.from_dict(config["train"])
    model_config = TaggerConfig.from_dict(config["model"])
    task = TaggingTask(train_ids, valid_ids, vocabs.tags, data.batch_size, train_config.seed,
                       unit=model_config.loss_unit)
    torch.manual_seed(train_config.seed)
    model = Tagger(model_config)
    return Trainer(model, task, train_config, out_dir, quiet=quiet,
                   callbacks=callbacks_for(config.get("select", SELECT_LOSS), out_dir, callbacks))


@dataclass
class LoadedTagger:
    """A trained tagging directory, ready to tag and evaluate."""

    model: Tagger
    vocabs: Vocabularies
    data: TaggingData
    config: dict[str, Any]


def load_tagger(directory: str | Path) -> LoadedTagger:
    """Load a model directory written by :func:`train_tagger`."""
    directory = require_files(directory, "config.json", VOCAB_FILE, CHARS_FILE, TAGS_FILE,
                              WEIGHTS_FILE)
    config = read_config(directory, TASK)
    model = Tagger(TaggerConfig.from_dict(config["model"]))
    load_weights(directory, model)
    model.eval()
    return LoadedTagger(model, _vocabularies(directory), TaggingData(**config["data"]), config)


def tag_sentences(loaded: LoadedTagger, sentences: Sequence[Sequence[str]],
                  source: str = "input") -> list[list[str]]:
    """The predicted tag of every token of each tokenized sentence."""
    if not sentences:
        raise ValueError(f"{source}: no sentences to tag (the input is empty)")
    empty = [number for number, tokens in enumerate(sentences, start=1) if not tokens]
    if empty:
        raise ValueError(f"{source}: sentence {empty[0]} has no tokens")
    words, chars = encode_sentences(sentences, loaded.vocabs, loaded.data)
    paths = decode_all(loaded.model, words, chars)
    return [[loaded.vocabs.tags[i] for i in path] for path in paths]


def read_tokens(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """Sentences of a CoNLL file for tagging: ``(tokens, lines)`` with each token's original
    line, so the output can append a column (any number of columns, the first is the token;
    every line must have as many as the first)."""
    sentences, tokens, lines, width = [], [], [], None
    for number, line in iter_lines(path):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                sentences.append((tokens, lines))
                tokens, lines = [], []
            continue
        width = width or len(fields)
        if len(fields) != width:
            raise ValueError(f"{path}:{number}: expected {width} columns (as in the first token "
                             f"line), got {len(fields)}")
        tokens.append(fields[0])
        lines.append(line.rstrip())
    if tokens:
        sentences.append((tokens, lines))
    if not sentences:
        raise ValueError(f"read_tokens: {path} holds no sentences (the file is empty or blank)")
    return sentences


def evaluate_tagger(loaded: LoadedTagger, path: str | Path) -> dict[str, Any]:
    """Loss, token accuracy and entity-level P/R/F1 with the per-type report on a CoNLL
    file (tags in the training data's tag column)."""
    data = loaded.data
    sentences = list(read_conll(path, token_column=data.token_column, tag_column=data.tag_column))
    encoded = _encode(sentences, loaded.vocabs, data, str(path))
    return {**score(loaded.model, encoded, loaded.vocabs.tags), "sentences": len(sentences)}

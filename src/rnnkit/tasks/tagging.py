"""Sequence tagging (NER): CoNLL file → word, character and tag vocabularies → bucketed padded
batches → Tagger (BiLSTM + char features + CRF or softmax); entity-level P/R/F1 by seqeval.

Input and output are CoNLL column files (``token ... tag`` per line, blank line between
sentences, ``-DOCSTART-`` skipped; a line with a different number of columns is an error
naming ``file:line``). Words are never cut (a sentence is as long as it is); a word longer
than ``max_word_length`` characters keeps its first ones for the character encoder. A tag in
an evaluation file that training never saw is an error listing the known tags.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data import (
    BucketBatchSampler,
    pad_nested,
    pad_sequences,
    read_conll,
    read_conll_tokens,
)
from rnnkit.models.tagger import CHAR_ENCODERS, OUTPUTS, Tagger, TaggerConfig
from rnnkit.tasks.arguments import (
    add_data_files,
    add_recurrent_arguments,
    add_select_argument,
    recurrent_options,
)
from rnnkit.tasks.common import (
    require_tokens,
    split_held_out,
    validation_source,
)
from rnnkit.tasks.contract import Pipeline, Prepared, Task, register
from rnnkit.tasks.pipeline import ModelBackend
from rnnkit.tasks.selection import check_select
from rnnkit.tasks.tagger_pipeline import (
    CHARS_FILE,
    TAGS_FILE,
    TASK,
    Encoded,
    Entity,
    TaggedText,
    TaggerPipeline,
    TaggingData,
    decode_all,
    encode_tagged,
    loss_sum,
    read_vocabularies,
    report_of,
)
from rnnkit.tasks.tagger_pipeline import score as score_backend
from rnnkit.text import Vocab
from rnnkit.train import StepOutput, TrainConfig, Trainer, distributed
from rnnkit.train.model_dir import VOCAB_FILE, write_json

__all__ = [  # the pipeline's names stay importable from here
    "TAGGING",
    "Entity",
    "TaggedText",
    "TaggerPipeline",
    "Tagging",
    "TaggingData",
    "TorchTaggerBackend",
    "detect_scheme",
    "score",
]

SCHEME_CHOICES = ("auto", "BIO", "BIOES", "none")
SELECT_CHOICES = ("f1", "loss")


def detect_scheme(tags: Sequence[str]) -> str:
    """``BIOES`` when any tag starts with ``E-``/``S-``, ``BIO`` when any starts with ``B-``/
    ``I-``, else ``none``."""
    prefixes = {tag.split("-", 1)[0] for tag in tags if "-" in tag}
    if prefixes & {"E", "S"}:
        return "BIOES"
    return "BIO" if prefixes & {"B", "I"} else "none"


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


def _count(unit: str, batch: TagBatch) -> int:
    """How many of ``unit`` (a ``TaggerConfig.loss_unit``) the batch holds (the mean loss's
    divisor)."""
    if unit == "sentences":
        return len(batch.lengths)
    return int(batch.lengths.sum())


class TorchTaggerBackend(ModelBackend):
    """A :class:`Tagger` as the backend of a :class:`TaggerPipeline`."""

    def __init__(self, model: Tagger) -> None:
        super().__init__(model)
        self.loss_unit = model.config.loss_unit

    @torch.inference_mode()
    def decode(self, words: np.ndarray, lengths: np.ndarray,
               chars: np.ndarray) -> list[list[int]]:
        self.model.eval()
        return self.model.decode(torch.from_numpy(words).to(self.device),
                                 torch.from_numpy(lengths),
                                 torch.from_numpy(chars).to(self.device))

    @torch.inference_mode()
    def loss(self, words: np.ndarray, lengths: np.ndarray, chars: np.ndarray,
             tags: np.ndarray) -> float:
        self.model.eval()
        return float(self.model(torch.from_numpy(words).to(self.device),
                                torch.from_numpy(lengths),
                                torch.from_numpy(chars).to(self.device),
                                torch.from_numpy(tags).to(self.device)).loss)


def score(model: Tagger, encoded: Encoded, tags: Sequence[str],
          batch_size: int = 64) -> dict[str, Any]:
    """:func:`rnnkit.tasks.tagger_pipeline.score` of a torch model, in this process alone."""
    return score_backend(TorchTaggerBackend(model), encoded, tags, batch_size)


class TaggingTraining:
    """The trainer's view of tagging (see ``rnnkit.train.TrainingTask``).

    Under torchrun each process trains on its share of each bucketed global batch and
    validates on its share of the validation sentences.
    """

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
        return [distributed.share_batch(indices, lambda own: _subset(self.train, own))
                for indices in self.sampler]

    def train_step(self, model: nn.Module, batch: TagBatch, carry: Any) -> StepOutput:
        output = model(batch.words, batch.lengths, batch.chars, batch.tags)
        return StepOutput(output.loss, _count(self.unit, batch))

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Each process scores its share of the validation sentences; the loss sums are
        added and the tag paths gathered in sentence order, so that every process reports
        the figures of the whole set."""
        rows = distributed.share(len(self.valid.words))
        share = Encoded(*(field[rows] for field in self.valid))
        backend = TorchTaggerBackend(model)
        total, count = distributed.all_sum(loss_sum(backend, share, 64))
        predicted = distributed.gather_shares(decode_all(backend, share.words, share.chars, 64))
        report = report_of(self.valid.tags, predicted, total / count, self.tags)
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


class Tagging(Task):
    """Sequence taggers (NER): BiLSTM + character features + CRF or softmax."""

    name = TASK
    summary = "train a sequence tagger (NER: BiLSTM + char features + CRF)"
    description = ("Train a BiLSTM tagger on a CoNLL column file (token first, tag last; "
                   "blank lines between sentences). Writes a model directory.")
    files = (VOCAB_FILE, CHARS_FILE, TAGS_FILE)
    outputs = (CHARS_FILE, TAGS_FILE)
    metric = "f1"
    predict_instead = None

    def prepare(self, data: TaggingData, model_options: dict[str, Any], train: TrainConfig,
                out_dir: Path, *, quiet: bool, select: str = "f1") -> Prepared:
        """Read the CoNLL files and build the word, character and tag vocabularies.
        ``model_options`` are :class:`TaggerConfig` fields; ``scheme="auto"`` (the default
        here) takes the scheme from the training tags (:func:`detect_scheme`). ``select`` is
        the validation figure whose best epoch's weights are kept (``loss``: the trainer's
        choice)."""
        check_select(select, SELECT_CHOICES)
        examples = _sentences(data)
        sentences = examples[0]
        words = require_tokens(
            Vocab.build(([t.lower() if data.lowercase else t for t in tokens]
                         for tokens, _ in sentences),
                        max_size=data.max_vocab, min_freq=data.min_freq),
            data.min_freq, data.train)
        chars = Vocab.build(list(token) for tokens, _ in sentences for token in tokens)
        tags = sorted({tag for _, sentence_tags in sentences for tag in sentence_tags})
        options = dict(model_options)
        scheme = options.pop("scheme", "auto")
        if scheme not in SCHEME_CHOICES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEME_CHOICES)}, got "
                             f"{scheme!r}")
        model_config = TaggerConfig(
            vocab_size=len(words), unk_id=words.unk_id, tags=tuple(tags),
            char_vocab_size=len(chars),
            scheme=detect_scheme(tags) if scheme == "auto" else scheme, **options)
        words.save(out_dir / VOCAB_FILE)
        chars.save(out_dir / CHARS_FILE)
        write_json(out_dir / TAGS_FILE, tags)
        return Prepared({"model": model_config.to_dict(), "data": asdict(data),
                         "select": select}, {"examples": examples})

    def training(self, out_dir: Path, config: dict[str, Any], *, quiet: bool, device: str,
                 seed: int, reuse: dict[str, Any]) -> TaggingTraining:
        data = TaggingData(**config["data"])
        vocabs = read_vocabularies(out_dir)
        train_sentences, valid_sentences = reuse.get("examples") or _sentences(data)
        train_ids = encode_tagged(train_sentences, vocabs, data, data.train)
        valid_ids = encode_tagged(valid_sentences, vocabs, data,
                            validation_source(data.train, data.valid, data.valid_fraction))
        return TaggingTraining(train_ids, valid_ids, vocabs.tags, data.batch_size,
                               seed,
                               unit=TaggerConfig.from_dict(config["model"]).loss_unit)

    def build_model(self, config: dict[str, Any]) -> Tagger:
        return Tagger(TaggerConfig.from_dict(config["model"]))

    def pipeline(self, directory: Path, config: dict[str, Any],
                 model: nn.Module) -> TaggerPipeline:
        return TaggerPipeline(directory, config, TorchTaggerBackend(model),
                              read_vocabularies(directory))

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        data = add_data_files(parser, "CoNLL file")
        data.add_argument("--tag-column", type=int, default=-1, help="column of the tags")
        data.add_argument("--lowercase", action="store_true",
                          help="lowercase the word-embedding input (characters keep their "
                               "case)")
        data.add_argument("--max-word-length", type=int, default=20,
                          help="characters per word seen by the character encoder")
        data.add_argument("--max-vocab", type=int, help="word vocabulary cap, specials included")
        data.add_argument("--min-freq", type=int, default=1, help="rarer words become <unk>")
        data.add_argument("--batch-size", type=int, default=16)
        model = add_recurrent_arguments(parser, embed=100, hidden=200, layers=1, dropout=0.5)
        model.add_argument("--char-encoder", choices=CHAR_ENCODERS, default="cnn",
                           help="character-level word features: CNN, BiLSTM or none")
        model.add_argument("--char-embed", type=int, default=30,
                           help="character embedding size")
        model.add_argument("--char-features", type=int, default=50,
                           help="features per word from the character encoder")
        model.add_argument("--output", choices=OUTPUTS, default="crf",
                           help="CRF over tag paths, or an independent softmax per token")
        model.add_argument("--scheme", choices=SCHEME_CHOICES, default="auto",
                           help="CRF transition constraints (auto: from the training tags)")
        model.add_argument("--word-dropout", type=float, default=0.0,
                           help="probability of turning a training word into <unk>")
        add_select_argument(parser, SELECT_CHOICES, default="f1")

    def start(self, args: argparse.Namespace, train: TrainConfig) -> Trainer:
        data = TaggingData(
            train=args.data, valid=args.valid, tag_column=args.tag_column,
            lowercase=args.lowercase, max_word_length=args.max_word_length,
            max_vocab=args.max_vocab, min_freq=args.min_freq, batch_size=args.batch_size,
            valid_fraction=args.valid_fraction, split_seed=args.split_seed,
        )
        model = {**recurrent_options(args), "char_encoder": args.char_encoder,
                 "char_embed_size": args.char_embed, "char_features": args.char_features,
                 "output": args.output, "scheme": args.scheme,
                 "word_dropout": args.word_dropout}
        return self.train(data, model, train, args.out, quiet=args.quiet, select=args.select)

    def format_report(self, pipeline: Pipeline, report: dict[str, Any],
                      args: argparse.Namespace) -> str:
        """Entity-level precision, recall and F1 (seqeval), token accuracy and the
        per-type report."""
        lines = [f"sentences\t{report['sentences']}"]
        lines += [f"{name}\t{report[name]:.4f}"
                  for name in ("loss", "precision", "recall", "f1", "token_accuracy")]
        lines.append("type\tprecision\trecall\tf1\tsupport")
        lines += [f"{name}\t{row['precision']:.4f}\t{row['recall']:.4f}\t"
                  f"{row['f1-score']:.4f}\t{int(row['support'])}"
                  for name, row in report["per_type"].items()]
        return "\n".join(lines)

    def predict_lines(self, pipeline: Pipeline, texts: list[str] | None, path: str | None,
                      output_format: str) -> Iterable[str]:
        """A CoNLL file in, the same lines with the predicted tag appended out (``--text``:
        English word tokens, one ``token<TAB>tag`` line each); JSON lines ``{"tokens",
        "tags", "entities"}`` with ``--output-format json``."""
        if texts is not None:
            tagged = pipeline.tag(texts, "--text")
            sentences, separator = [(item.tokens, item.tokens) for item in tagged], "\t"
        else:
            sentences, separator = read_conll_tokens(path), " "
            tagged = pipeline.tag([tokens for tokens, _ in sentences], path)
        lines = []
        for (_, originals), item in zip(sentences, tagged):
            if output_format == "json":
                lines.append(json.dumps({"tokens": item.tokens, "tags": item.tags,
                                         "entities": [entity._asdict()
                                                      for entity in item.entities]},
                                        ensure_ascii=False))
            else:
                lines.append("\n".join(f"{line}{separator}{tag}"
                                       for line, tag in zip(originals, item.tags)) + "\n")
        return lines


TAGGING = register(Tagging())

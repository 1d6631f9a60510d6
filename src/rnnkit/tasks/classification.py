"""Text classification: labelled file → vocabulary → bucketed padded batches → Classifier; the
``classify`` task (its data, encoding and pipeline live in :mod:`.classification_data` and
:mod:`.classifier_pipeline`, teachers in :mod:`.distillation`).

A new run writes, besides the model, the validation report (``valid_report.json``) and
``confusion.png`` of the kept weights.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.data import LABELLED_FORMATS, BucketBatchSampler, load_vectors, read_corpus
from rnnkit.models.classifier import POOLINGS, Classifier, ClassifierConfig
from rnnkit.tasks.arguments import (
    add_data_files,
    add_recurrent_arguments,
    add_select_argument,
    recurrent_options,
)
from rnnkit.tasks.classification_data import (
    TOKENIZER_NAMES,
    ClassificationData,
    LabelledIds,
    data_from_section,
    data_section,
    encode_labelled,
    run_examples,
)
from rnnkit.tasks.classifier_pipeline import (
    TASK,
    ClassifierMember,
    ClassifierPipeline,
    report_of,
)
from rnnkit.tasks.classifier_scoring import (
    ClassBatch,
    TorchClassifierBackend,
    make_batch,
    predict_probabilities,
    score,
)
from rnnkit.tasks.common import read_string_list, require_tokens, validation_source
from rnnkit.tasks.contract import Pipeline, Prepared, Task, register
from rnnkit.tasks.distillation import (
    load_teachers,
    warn_if_teachers_saw_validation,
    with_teacher_targets,
)
from rnnkit.tasks.selection import check_select
from rnnkit.text import Vocab, get_tokenizer
from rnnkit.train import StepOutput, TrainConfig, Trainer, distributed
from rnnkit.train.model_dir import VOCAB_FILE, write_json
from rnnkit.train.plots import plot_confusion

LABELS_FILE = "labels.json"
REPORT_FILE = "valid_report.json"
SELECT_CHOICES = ("accuracy", "macro_f1", "loss")
CONFUSION_PLOT = "confusion.png"
DISTILLATION_OPTIONS = ("span_samples", "masked_copies", "mask_prob")
"""Options that only mean something with ``--teacher`` (absent from the args unless given)."""


class ClassificationTraining:
    """The trainer's view of classification (see ``rnnkit.train.TrainingTask``).

    Under torchrun each process trains on its share of each bucketed global batch and
    predicts its share of the validation examples; the predictions are gathered, so every
    process reports the figures of the whole validation set.
    """

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
        return [distributed.share_batch(indices, self._batch) for indices in self.sampler]

    def _batch(self, indices: Sequence[int]) -> ClassBatch:
        return make_batch(*self.train.subset(indices))

    def train_step(self, model: nn.Module, batch: ClassBatch, carry: Any) -> StepOutput:
        output = model(batch.padded.ids, batch.padded.lengths, batch.targets, batch.subwords)
        return StepOutput(output.loss, len(batch.targets))

    def evaluate(self, model: nn.Module) -> dict[str, float] | None:
        if self.valid is None:
            return None
        own = self.valid.subset(range(len(self.valid.ids))[distributed.share(
            len(self.valid.ids))])
        probabilities = torch.cat(distributed.all_gather(predict_probabilities(
            model, own.ids, self.batch_size, own.subwords)))  # (N, C), in example order
        report = report_of(probabilities, self.valid.labels, self.labels)
        return {name: report[name] for name in ("loss", "accuracy", "macro_f1")}

    def describe(self, loss: float) -> dict[str, float]:
        return {}


def _column(value: str | None) -> str | int | None:
    return int(value) if value is not None and value.lstrip("-").isdigit() else value


class Classification(Task):
    """Text classifiers (sentiment, topics, …), optionally distilled from trained ones."""

    name = TASK
    summary = "train a text classifier (sentiment, topics, ...)"
    description = ("Train a recurrent text classifier on a labelled file: TSV/CSV with a "
                   "header (label,review) or text<TAB>label, or '<label> <text>' lines "
                   "(SST-2). Writes a model directory with a validation report and "
                   "confusion.png.")
    files = (VOCAB_FILE, LABELS_FILE)
    outputs = (LABELS_FILE, REPORT_FILE, CONFUSION_PLOT)
    metric = "accuracy"
    predict_instead = None

    def prepare(self, data: ClassificationData, model_options: dict[str, Any],
                train: TrainConfig, out_dir: Path, *, quiet: bool,
                select: str = "accuracy") -> Prepared:
        """Read the examples, build the vocabulary and labels, load the teachers (checked
        against them) and the pretrained vectors; ``select`` is the validation figure whose
        best epoch's weights are kept (``loss``: the trainer's choice)."""
        check_select(select, SELECT_CHOICES)
        tokenizer = data.make_tokenizer()
        examples = run_examples(data)
        train_examples = examples[0]
        vocab = require_tokens(
            Vocab.build((tokenizer.tokenize(text) for text, _ in train_examples),
                        max_size=data.max_vocab, min_freq=data.min_freq),
            data.min_freq, data.train)
        labels = sorted({label for _, label in train_examples})
        if len(labels) < 2:
            raise ValueError(f"{data.train}: expected at least 2 distinct labels, got {labels}")
        teachers = load_teachers(data.teachers, tokenizer.config(), labels)
        warn_if_teachers_saw_validation(data.teachers, teachers, examples)
        embeddings = None
        if data.vectors is not None:
            embeddings = load_vectors(data.vectors, vocab).weights
            model_options = {**model_options, "embed_size": embeddings.shape[1]}
        model_config = ClassifierConfig(vocab_size=len(vocab), unk_id=vocab.unk_id,
                                        num_classes=len(labels), **model_options)
        vocab.save(out_dir / VOCAB_FILE)
        write_json(out_dir / LABELS_FILE, labels)
        return Prepared({"model": model_config.to_dict(), "data": data_section(data),
                         "select": select},
                        {"embeddings": embeddings, "teachers": teachers, "examples": examples})

    def training(self, out_dir: Path, config: dict[str, Any], *, quiet: bool, device: str,
                 seed: int, reuse: dict[str, Any]) -> ClassificationTraining:
        """``reuse`` may hold what a new run already read: ``examples`` (train, valid) and
        ``teachers``."""
        data = data_from_section(config["data"])
        tokenizer = get_tokenizer(**config["data"]["tokenizer_config"])
        vocab = Vocab.load(out_dir / VOCAB_FILE)
        labels = read_string_list(out_dir / LABELS_FILE, "label")
        hasher = ClassifierConfig.from_dict(config["model"]).subword_hasher()
        train_examples, valid_examples = reuse.get("examples") or run_examples(data)
        train_ids, encoded = encode_labelled(train_examples, tokenizer, vocab, labels, data,
                                             data.train, hasher)
        if data.teachers:
            teachers = reuse.get("teachers") or load_teachers(data.teachers,
                                                              tokenizer.config(), labels)
            train_ids = with_teacher_targets(
                train_ids, encoded.tokens, teachers, data.span_samples,
                seed, masked_copies=data.masked_copies,
                mask_prob=data.mask_prob, unk_id=vocab.unk_id, progress=not quiet)
        valid_ids, _ = encode_labelled(
            valid_examples, tokenizer, vocab, labels, data,
            validation_source(data.train, data.valid, data.valid_fraction), hasher)
        return ClassificationTraining(train_ids, valid_ids, labels, data.batch_size,
                                      seed)

    def initial_model(self, config: dict[str, Any], reuse: dict[str, Any]) -> Classifier:
        """The classifier, its embeddings from the pretrained vectors a new run read."""
        return Classifier(ClassifierConfig.from_dict(config["model"]), reuse.get("embeddings"))

    def finish(self, out_dir: Path, trainer: Trainer) -> None:
        """Score the kept weights on the validation data; write the report and its plot."""
        member = self.load(out_dir).members[0]
        task = trainer.task
        report = score(member.model, task.valid, member.labels, task.batch_size)
        write_json(out_dir / REPORT_FILE, report)
        plot_confusion(report["confusion"], member.labels, out_dir / CONFUSION_PLOT,
                       f"validation: accuracy {report['accuracy']:.3f}")

    def build_model(self, config: dict[str, Any]) -> Classifier:
        return Classifier(ClassifierConfig.from_dict(config["model"]))

    def pipeline(self, directory: Path, config: dict[str, Any],
                 model: nn.Module) -> ClassifierPipeline:
        member = ClassifierMember(directory, TorchClassifierBackend(model), Vocab.load(directory / VOCAB_FILE),
                                  read_string_list(directory / LABELS_FILE, "label"),
                                  get_tokenizer(**config["data"]["tokenizer_config"]),
                                  data_from_section(config["data"]),
                                  model.config.subword_hasher())
        return ClassifierPipeline([member], config)

    def load_ensemble(self, directories: Sequence[str | Path],
                      device: str | torch.device | None = None) -> ClassifierPipeline:
        """The classifiers in ``directories`` as one pipeline whose probabilities are their
        average (they must share their labels, in order)."""
        pipelines = [self.load(directory, device) for directory in directories]
        return ClassifierPipeline([pipeline.members[0] for pipeline in pipelines],
                                  pipelines[0].config)

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        data = add_data_files(parser, "labelled file")
        data.add_argument("--format", choices=LABELLED_FORMATS, default="auto",
                          help="file format (auto: by suffix, then a tab in line 1 means TSV, "
                               "else '<label> <text>' lines)")
        data.add_argument("--text-column", help="TSV/CSV text column (header name or number)")
        data.add_argument("--label-column", help="TSV/CSV label column (header name or number)")
        data.add_argument("--tokenizer", choices=TOKENIZER_NAMES, default="word",
                          help="word: English rules; chinese: jieba; whitespace: pre-tokenized")
        data.add_argument("--lowercase", action="store_true", help="lowercase (word/auto)")
        data.add_argument("--max-length", type=int, default=400,
                          help="texts are cut to this many tokens (a warning counts them)")
        data.add_argument("--max-vocab", type=int, help="vocabulary size cap, specials included")
        data.add_argument("--min-freq", type=int, default=1, help="rarer tokens become <unk>")
        data.add_argument("--batch-size", type=int, default=32)
        data.add_argument("--vectors", help="pretrained word vectors (word2vec/GloVe text) to "
                                            "initialise the embeddings; sets --embed")
        data.add_argument("--teacher", action="append", default=[], metavar="DIR",
                          help="distil trained classifiers (repeatable, same tokenizer and "
                               "labels): --span-samples random spans of each training text "
                               "(and --masked-copies copies) join the training data with the "
                               "teachers' averaged probabilities as targets")
        data.add_argument("--span-samples", type=int, default=argparse.SUPPRESS,
                          help="with --teacher: at most this many distinct spans (2 to n-1 "
                               "tokens) drawn from each training text for the teachers to "
                               f"label (default: {ClassificationData.span_samples})")
        data.add_argument("--masked-copies", type=int, default=argparse.SUPPRESS,
                          help="with --teacher: this many copies of each training text, each "
                               "token masked (read as <unk>, without subwords) with "
                               "probability --mask-prob, for the teachers to label "
                               f"(default: {ClassificationData.masked_copies})")
        data.add_argument("--mask-prob", type=float, default=argparse.SUPPRESS,
                          help="with --masked-copies: each token's masking probability "
                               f"(default: {ClassificationData.mask_prob})")
        model = add_recurrent_arguments(
            parser, embed=128, hidden=128, layers=1, dropout=0.5,
            dropout_help="dropout on embeddings, between layers and on the pooled vector")
        model.add_argument("--unidirectional", action="store_true",
                           help="one direction instead of a bidirectional layer")
        model.add_argument("--pooling", choices=POOLINGS, default="max",
                           help="last state, mean or max over valid steps, or additive "
                                "attention")
        model.add_argument("--attention-size", type=int, default=64)
        model.add_argument("--word-dropout", type=float, default=0.0,
                           help="probability of turning a training token into <unk>")
        model.add_argument("--freeze-embeddings", action="store_true",
                           help="keep the (pretrained) embeddings fixed")
        model.add_argument("--subword-buckets", type=int, default=0,
                           help="add fastText-style subword features: each token's character "
                                "n-grams hashed into this many buckets (0: off); rare and "
                                "unseen words then share vectors with known ones")
        model.add_argument("--subword-ngrams", type=int, nargs=2, default=(3, 5),
                           metavar=("MIN", "MAX"),
                           help="character n-gram lengths of the subwords")
        add_select_argument(parser, SELECT_CHOICES, default="accuracy")

    def start(self, args: argparse.Namespace, train: TrainConfig) -> Trainer:
        distillation = {name: getattr(args, name) for name in DISTILLATION_OPTIONS
                        if hasattr(args, name)}
        if distillation and not args.teacher:
            name, value = next(iter(distillation.items()))
            raise ValueError(f"--{name.replace('_', '-')} {value} needs --teacher: the inputs "
                             "it makes are labelled by teacher models")
        if "mask_prob" in distillation and not distillation.get("masked_copies"):
            raise ValueError(f"--mask-prob {distillation['mask_prob']} needs --masked-copies")
        data = ClassificationData(
            train=args.data, valid=args.valid, format=args.format,
            text_column=_column(args.text_column), label_column=_column(args.label_column),
            tokenizer=args.tokenizer, lowercase=args.lowercase, max_length=args.max_length,
            max_vocab=args.max_vocab, min_freq=args.min_freq, batch_size=args.batch_size,
            valid_fraction=args.valid_fraction, split_seed=args.split_seed,
            vectors=args.vectors, teachers=tuple(args.teacher), **distillation,
        )
        model = {**recurrent_options(args), "bidirectional": not args.unidirectional,
                 "pooling": args.pooling, "attention_size": args.attention_size,
                 "word_dropout": args.word_dropout,
                 "freeze_embeddings": args.freeze_embeddings,
                 "subword_buckets": args.subword_buckets,
                 "subword_min_n": args.subword_ngrams[0],
                 "subword_max_n": args.subword_ngrams[1]}
        return self.train(data, model, train, args.out, quiet=args.quiet, select=args.select)

    def input_files(self, args: argparse.Namespace) -> list[tuple[str, str | None]]:
        return [*super().input_files(args), ("--vectors", args.vectors),
                *(("--teacher", teacher) for teacher in args.teacher)]

    def add_evaluate_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--plot", help="classify: write the confusion matrix to this PNG")

    def format_report(self, pipeline: Pipeline, report: dict[str, Any],
                      args: argparse.Namespace) -> str:
        """Accuracy, macro-F1 and the per-class report; ``--plot`` writes the confusion
        matrix as PNG."""
        if args.plot:
            plot_confusion(report["confusion"], pipeline.labels, Path(args.plot),
                           f"{Path(args.data).name}: accuracy {report['accuracy']:.3f}")
        lines = [f"examples\t{report['examples']}"]
        lines += [f"{name}\t{report[name]:.4f}" for name in ("loss", "accuracy", "macro_f1")]
        lines.append("label\tprecision\trecall\tf1\tsupport")
        lines += [f"{label}\t{row['precision']:.4f}\t{row['recall']:.4f}\t{row['f1']:.4f}\t"
                  f"{row['support']}" for label, row in report["per_class"].items()]
        return "\n".join(lines)

    def predict_lines(self, pipeline: Pipeline, texts: list[str] | None, path: str | None,
                      output_format: str) -> Iterable[str]:
        """One line per text: TSV ``label<TAB>p(label_1)...`` with a header, or JSON lines
        ``{"text", "label", "probabilities"}`` (``--input``: one text per line)."""
        if texts is None:
            texts, source = list(read_corpus(path)), path
        else:
            source = "--text"
        predictions = pipeline.predict(texts, source)
        if output_format == "json":
            return [json.dumps({"text": text, "label": prediction.label,
                                "probabilities": prediction.probabilities}, ensure_ascii=False)
                    for text, prediction in zip(texts, predictions)]
        header = "\t".join(["label", *(f"p({label})" for label in pipeline.labels)])
        return [header] + ["\t".join([prediction.label, *(f"{p:.4f}" for p in
                                                          prediction.probabilities.values())])
                           for prediction in predictions]


CLASSIFICATION = register(Classification())

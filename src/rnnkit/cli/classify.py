"""Classification commands: ``train classify``, and the classifier's side of ``predict`` and
``evaluate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rnnkit.cli.common import (
    add_data_files,
    add_select_argument,
    add_training_arguments,
    print_best,
    rnn_option,
    run_training,
    train_config_from_args,
)
from rnnkit.data import read_corpus
from rnnkit.models.classifier import POOLINGS
from rnnkit.tasks import classification as cls
from rnnkit.train.plots import plot_confusion


def add_train_parser(tasks) -> None:
    parser = tasks.add_parser(
        "classify", help="train a text classifier (sentiment, topics, ...)",
        description="Train a recurrent text classifier on a labelled file: TSV/CSV with a "
                    "header (label,review) or text<TAB>label, or '<label> <text>' lines "
                    "(SST-2). Writes a model directory with a validation report and "
                    "confusion.png.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = add_data_files(parser, "labelled file")
    data.add_argument("--format", choices=cls.FORMATS, default="auto",
                      help="file format (auto: by suffix, then a tab in line 1 means TSV, else "
                           "'<label> <text>' lines)")
    data.add_argument("--text-column", help="TSV/CSV text column (header name or number)")
    data.add_argument("--label-column", help="TSV/CSV label column (header name or number)")
    data.add_argument("--tokenizer", choices=cls.TOKENIZER_NAMES, default="word",
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
                      help="distil trained classifiers (repeatable, same tokenizer and labels): "
                           "--span-samples random spans of each training text (and "
                           "--masked-copies copies) join the training data with the "
                           "teachers' averaged probabilities as targets")
    data.add_argument("--span-samples", type=int, default=argparse.SUPPRESS,
                      help="with --teacher: at most this many distinct spans (2 to n-1 tokens) "
                           "drawn from each training text for the teachers to label "
                           f"(default: {cls.ClassificationData.span_samples})")
    data.add_argument("--masked-copies", type=int, default=argparse.SUPPRESS,
                      help="with --teacher: this many copies of each training text, each "
                           "token masked (read as <unk>, without subwords) with probability "
                           "--mask-prob, for the teachers to label "
                           f"(default: {cls.ClassificationData.masked_copies})")
    data.add_argument("--mask-prob", type=float, default=argparse.SUPPRESS,
                      help="with --masked-copies: each token's masking probability "
                           f"(default: {cls.ClassificationData.mask_prob})")
    model = parser.add_argument_group("model")
    model.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm")
    model.add_argument("--embed", type=int, default=128, help="embedding size")
    model.add_argument("--hidden", type=int, default=128, help="hidden size per direction")
    model.add_argument("--layers", type=int, default=1, help="stacked recurrent layers")
    model.add_argument("--unidirectional", action="store_true",
                       help="one direction instead of a bidirectional layer")
    model.add_argument("--pooling", choices=POOLINGS, default="max",
                       help="last state, mean or max over valid steps, or additive attention")
    model.add_argument("--attention-size", type=int, default=64)
    model.add_argument("--dropout", type=float, default=0.5,
                       help="dropout on embeddings, between layers and on the pooled vector")
    model.add_argument("--word-dropout", type=float, default=0.0,
                       help="probability of turning a training token into <unk>")
    model.add_argument("--freeze-embeddings", action="store_true",
                       help="keep the (pretrained) embeddings fixed")
    model.add_argument("--subword-buckets", type=int, default=0,
                       help="add fastText-style subword features: each token's character "
                            "n-grams hashed into this many buckets (0: off); rare and unseen "
                            "words then share vectors with known ones")
    model.add_argument("--subword-ngrams", type=int, nargs=2, default=(3, 5),
                       metavar=("MIN", "MAX"), help="character n-gram lengths of the subwords")
    model.add_argument("--rnn-option", type=rnn_option, action="append", default=[],
                       metavar="KEY=VALUE", help="any rnnkit.nn layer option (repeatable)")
    add_select_argument(parser, cls.SELECT_CHOICES, default="accuracy")
    add_training_arguments(parser, epochs=10, optimizer="adam", lr=1e-3, clip=5.0)
    parser.set_defaults(run=run_train)


def _column(value: str | None) -> str | int | None:
    return int(value) if value is not None and value.lstrip("-").isdigit() else value


def run_train(args: argparse.Namespace) -> int:
    return run_training(
        args, "classify", start=lambda: _start(args),
        resume=lambda: cls.resume_classifier(args.out, quiet=args.quiet),
        report=lambda trainer: print_best(trainer, args.out, "accuracy"),
    )


DISTILLATION_OPTIONS = ("span_samples", "masked_copies", "mask_prob")
"""Options that only mean something with ``--teacher`` (absent from the args unless given)."""


def _start(args: argparse.Namespace):
    distillation = {name: getattr(args, name) for name in DISTILLATION_OPTIONS
                    if hasattr(args, name)}
    if distillation and not args.teacher:
        name, value = next(iter(distillation.items()))
        raise ValueError(f"--{name.replace('_', '-')} {value} needs --teacher: the inputs it "
                         "makes are labelled by teacher models")
    if "mask_prob" in distillation and not distillation.get("masked_copies"):
        raise ValueError(f"--mask-prob {distillation['mask_prob']} needs --masked-copies")
    data = cls.ClassificationData(
        train=args.data, valid=args.valid, format=args.format,
        text_column=_column(args.text_column), label_column=_column(args.label_column),
        tokenizer=args.tokenizer, lowercase=args.lowercase, max_length=args.max_length,
        max_vocab=args.max_vocab, min_freq=args.min_freq, batch_size=args.batch_size,
        valid_fraction=args.valid_fraction, split_seed=args.split_seed,
        vectors=args.vectors, teachers=tuple(args.teacher), **distillation,
    )
    model = {"cell": args.cell, "embed_size": args.embed, "hidden_size": args.hidden,
             "num_layers": args.layers, "bidirectional": not args.unidirectional,
             "pooling": args.pooling, "attention_size": args.attention_size,
             "dropout": args.dropout, "word_dropout": args.word_dropout,
             "freeze_embeddings": args.freeze_embeddings,
             "subword_buckets": args.subword_buckets,
             "subword_min_n": args.subword_ngrams[0], "subword_max_n": args.subword_ngrams[1],
             "rnn_options": dict(args.rnn_option)}
    return cls.train_classifier(data, model, train_config_from_args(args), args.out,
                                quiet=args.quiet, select=args.select)


def predict_classify(args: argparse.Namespace) -> int:
    """``predict`` for a classifier or an ensemble of them: one line per text, TSV
    ``label<TAB>p(label_1)...`` with a header, or JSON lines ``{"text", "label",
    "probabilities"}``."""
    models = [cls.load_classifier(directory) for directory in args.model_dirs]
    if args.text is not None:
        texts, source = args.text, "--text"
    else:
        texts, source = list(read_corpus(args.input)), args.input
    predictions = cls.predict_texts(models, texts, source)
    if args.output_format == "json":
        for text, prediction in zip(texts, predictions):
            print(json.dumps({"text": text, "label": prediction.label,
                              "probabilities": prediction.probabilities}, ensure_ascii=False))
    else:
        print("\t".join(["label", *(f"p({label})" for label in models[0].labels)]))
        for prediction in predictions:
            print("\t".join([prediction.label,
                             *(f"{p:.4f}" for p in prediction.probabilities.values())]))
    return 0


def evaluate_classify(args: argparse.Namespace) -> int:
    """``evaluate`` for a classifier or an ensemble of them: accuracy, macro-F1 and the
    per-class report; ``--plot`` writes the confusion matrix as PNG."""
    models = [cls.load_classifier(directory) for directory in args.model_dirs]
    report = cls.evaluate_classifier(models, args.data)
    if args.plot:
        plot_confusion(report["confusion"], models[0].labels, Path(args.plot),
                       f"{Path(args.data).name}: accuracy {report['accuracy']:.3f}")
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    for name in ("examples", "loss", "accuracy", "macro_f1"):
        print(f"{name}\t{report[name]:.4f}" if name != "examples" else f"{name}\t{report[name]}")
    print("label\tprecision\trecall\tf1\tsupport")
    for label, row in report["per_class"].items():
        print(f"{label}\t{row['precision']:.4f}\t{row['recall']:.4f}\t{row['f1']:.4f}\t"
              f"{row['support']}")
    return 0

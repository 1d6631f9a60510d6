"""Tagging commands: ``train tag``, and the tagger's side of ``predict`` and ``evaluate``."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.common import (
    add_data_files,
    add_select_argument,
    add_training_arguments,
    print_best,
    rnn_option,
    run_training,
    train_config_from_args,
)
from rnnkit.models.tagger import CHAR_ENCODERS, OUTPUTS
from rnnkit.tasks import tagging
from rnnkit.text import get_tokenizer


def add_train_parser(tasks) -> None:
    parser = tasks.add_parser(
        "tag", help="train a sequence tagger (NER: BiLSTM + char features + CRF)",
        description="Train a BiLSTM tagger on a CoNLL column file (token first, tag last; "
                    "blank lines between sentences). Writes a model directory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = add_data_files(parser, "CoNLL file")
    data.add_argument("--tag-column", type=int, default=-1, help="column of the tags")
    data.add_argument("--lowercase", action="store_true",
                      help="lowercase the word-embedding input (characters keep their case)")
    data.add_argument("--max-word-length", type=int, default=20,
                      help="characters per word seen by the character encoder")
    data.add_argument("--max-vocab", type=int, help="word vocabulary cap, specials included")
    data.add_argument("--min-freq", type=int, default=1, help="rarer words become <unk>")
    data.add_argument("--batch-size", type=int, default=16)
    model = parser.add_argument_group("model")
    model.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm")
    model.add_argument("--embed", type=int, default=100, help="word embedding size")
    model.add_argument("--hidden", type=int, default=200, help="hidden size per direction")
    model.add_argument("--layers", type=int, default=1)
    model.add_argument("--char-encoder", choices=CHAR_ENCODERS, default="cnn",
                       help="character-level word features: CNN, BiLSTM or none")
    model.add_argument("--char-embed", type=int, default=30, help="character embedding size")
    model.add_argument("--char-features", type=int, default=50,
                       help="features per word from the character encoder")
    model.add_argument("--output", choices=OUTPUTS, default="crf",
                       help="CRF over tag paths, or an independent softmax per token")
    model.add_argument("--scheme", choices=tagging.SCHEME_CHOICES, default="auto",
                       help="CRF transition constraints (auto: from the training tags)")
    model.add_argument("--dropout", type=float, default=0.5)
    model.add_argument("--word-dropout", type=float, default=0.0,
                       help="probability of turning a training word into <unk>")
    model.add_argument("--rnn-option", type=rnn_option, action="append", default=[],
                       metavar="KEY=VALUE", help="any rnnkit.nn layer option (repeatable)")
    add_select_argument(parser, tagging.SELECT_CHOICES, default="f1")
    add_training_arguments(parser, epochs=10, optimizer="adam", lr=1e-3, clip=5.0)
    parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    return run_training(
        args, "tag", start=lambda: _start(args),
        resume=lambda: tagging.resume_tagger(args.out, quiet=args.quiet),
        report=lambda trainer: print_best(trainer, args.out, "f1"),
    )


def _start(args: argparse.Namespace):
    data = tagging.TaggingData(
        train=args.data, valid=args.valid, tag_column=args.tag_column,
        lowercase=args.lowercase, max_word_length=args.max_word_length,
        max_vocab=args.max_vocab, min_freq=args.min_freq, batch_size=args.batch_size,
        valid_fraction=args.valid_fraction, split_seed=args.split_seed,
    )
    model = {"cell": args.cell, "embed_size": args.embed, "hidden_size": args.hidden,
             "num_layers": args.layers, "char_encoder": args.char_encoder,
             "char_embed_size": args.char_embed, "char_features": args.char_features,
             "output": args.output, "scheme": args.scheme, "dropout": args.dropout,
             "word_dropout": args.word_dropout, "rnn_options": dict(args.rnn_option)}
    return tagging.train_tagger(data, model, train_config_from_args(args), args.out,
                                quiet=args.quiet, select=args.select)


def predict_tag(args: argparse.Namespace) -> int:
    """``predict`` for a tagger: a CoNLL file in, the same lines with the predicted tag
    appended out (``--text``: English word tokens, one ``token<TAB>tag`` line each); JSON
    lines ``{"tokens", "tags"}`` with ``--output-format json``."""
    loaded = tagging.load_tagger(args.model_dir)
    if args.text is not None:
        tokenizer = get_tokenizer("word")
        sentences = [(tokens, tokens) for tokens in map(tokenizer.tokenize, args.text)]
        source, separator = "--text", "\t"
    else:
        sentences, source, separator = tagging.read_tokens(args.input), args.input, " "
    predicted = tagging.tag_sentences(loaded, [tokens for tokens, _ in sentences], source)
    for (tokens, lines), tags in zip(sentences, predicted):
        if args.output_format == "json":
            print(json.dumps({"tokens": tokens, "tags": tags}, ensure_ascii=False))
            continue
        print("\n".join(f"{line}{separator}{tag}" for line, tag in zip(lines, tags)) + "\n")
    return 0


def evaluate_tag(args: argparse.Namespace) -> int:
    """``evaluate`` for a tagger: entity-level precision, recall and F1 (seqeval), token
    accuracy and the per-type report."""
    report = tagging.evaluate_tagger(tagging.load_tagger(args.model_dir), args.data)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"sentences\t{report['sentences']}")
    for name in ("loss", "precision", "recall", "f1", "token_accuracy"):
        print(f"{name}\t{report[name]:.4f}")
    print("type\tprecision\trecall\tf1\tsupport")
    for name, row in report["per_type"].items():
        print(f"{name}\t{row['precision']:.4f}\t{row['recall']:.4f}\t{row['f1-score']:.4f}\t"
              f"{int(row['support'])}")
    return 0

"""Translation commands: ``train translate``, ``translate``, and the translator's side of
``evaluate``."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.common import (
    add_data_files,
    add_select_argument,
    add_training_arguments,
    print_best,
    run_training,
    train_config_from_args,
)
from rnnkit.data import read_corpus
from rnnkit.models.seq2seq import ATTENTIONS
from rnnkit.tasks import translation


def add_train_parser(tasks) -> None:
    parser = tasks.add_parser(
        "translate", help="train an attention seq2seq translator on tab-separated pairs",
        description="Train an LSTM encoder-decoder with attention on 'source<TAB>target' "
                    "lines. Writes a model directory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = add_data_files(parser, "pairs file")
    data.add_argument("--source-tokenizer", choices=translation.TOKENIZER_NAMES, default="word")
    data.add_argument("--target-tokenizer", choices=translation.TOKENIZER_NAMES, default="char",
                      help="char suits Chinese targets; chinese uses jieba words")
    data.add_argument("--keep-case", action="store_true", help="do not lowercase the source")
    data.add_argument("--max-source-length", type=int, default=50,
                      help="source tokens kept (longer sources are cut, with a warning)")
    data.add_argument("--max-target-length", type=int, default=60,
                      help="target tokens in training and the decoding limit")
    data.add_argument("--min-freq", type=int, default=1, help="rarer tokens become <unk>")
    data.add_argument("--batch-size", type=int, default=64)
    data.add_argument("--bleu-tokenize", default="zh",
                      help="sacrebleu tokenizer of the target (zh, 13a, ...)")
    model = parser.add_argument_group("model")
    model.add_argument("--embed", type=int, default=128)
    model.add_argument("--hidden", type=int, default=256)
    model.add_argument("--encoder-layers", type=int, default=1)
    model.add_argument("--unidirectional", action="store_true",
                       help="a one-direction encoder instead of a bidirectional one")
    model.add_argument("--attention", choices=ATTENTIONS, default="bahdanau",
                       help="additive (Bahdanau) or multiplicative (Luong) scores")
    model.add_argument("--attention-size", type=int, default=128)
    model.add_argument("--dropout", type=float, default=0.2)
    add_select_argument(parser, translation.SELECT_CHOICES, default="loss")
    add_training_arguments(parser, epochs=10, optimizer="adam", lr=1e-3, clip=5.0)
    parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    return run_training(
        args, "translate", start=lambda: _start(args),
        resume=lambda: translation.resume_translator(args.out, quiet=args.quiet),
        report=lambda trainer: print_best(trainer, args.out, "bleu_greedy"),
    )


def _start(args: argparse.Namespace):
    data = translation.TranslationData(
        train=args.data, valid=args.valid, source_tokenizer=args.source_tokenizer,
        target_tokenizer=args.target_tokenizer, lowercase_source=not args.keep_case,
        max_source_length=args.max_source_length,
        max_target_length=args.max_target_length, min_freq=args.min_freq,
        batch_size=args.batch_size, valid_fraction=args.valid_fraction,
        split_seed=args.split_seed, bleu_tokenize=args.bleu_tokenize,
    )
    model = {"embed_size": args.embed, "hidden_size": args.hidden,
             "encoder_layers": args.encoder_layers,
             "bidirectional": not args.unidirectional, "attention": args.attention,
             "attention_size": args.attention_size, "dropout": args.dropout}
    return translation.train_translator(data, model, train_config_from_args(args),
                                        args.out, quiet=args.quiet, select=args.select)


def add_translate_parser(commands) -> None:
    parser = commands.add_parser(
        "translate", help="translate texts with a trained seq2seq model",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model_dir", metavar="DIR", help="model directory")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="a text to translate (repeatable)")
    source.add_argument("--input", help="file with one source text per line")
    parser.add_argument("--beam-width", type=int, default=5, help="1: greedy decoding")
    parser.add_argument("--length-penalty", type=float, default=1.0,
                        help="beam scores are log p / length^this (0: none)")
    parser.add_argument("--max-length", type=int, help="most target tokens (default: the "
                                                       "training limit)")
    parser.set_defaults(run=run_translate)


def run_translate(args: argparse.Namespace) -> int:
    loaded = translation.load_translator(args.model_dir)
    texts = args.text if args.text is not None else list(read_corpus(args.input))
    source = "--text" if args.text is not None else args.input
    for output in translation.translate_texts(loaded, texts, args.beam_width,
                                              args.length_penalty, args.max_length, source):
        print(output)
    return 0


def evaluate_translate(args: argparse.Namespace) -> int:
    """``evaluate`` for a translator: corpus BLEU (greedy, or beam with ``--beam-width``)."""
    loaded = translation.load_translator(args.model_dir)
    report = translation.evaluate_translator(loaded, args.data, args.beam_width,
                                             args.length_penalty)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    for name in ("pairs", "beam_width", "length_penalty", "bleu"):
        print(f"{name}\t{report[name]}")
    for sample in report["samples"]:
        print(f"{sample['source']}\t{sample['output']}\t(reference: {sample['reference']})")
    return 0

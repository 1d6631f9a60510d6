"""``rnnkit translate DIR``: translate texts with a trained seq2seq model."""

from __future__ import annotations

import argparse

from rnnkit.data import read_corpus
from rnnkit.loading import load
from rnnkit.tasks import translation


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
    pipeline = load(args.model_dir)
    if pipeline.task != translation.TASK:
        raise ValueError(f"translate: {args.model_dir} holds a {pipeline.task!r} model; "
                         "translate needs a translator ('translate')")
    texts = args.text if args.text is not None else list(read_corpus(args.input))
    source = "--text" if args.text is not None else args.input
    for output in pipeline.translate(texts, args.beam_width, args.length_penalty,
                                     args.max_length, source=source):
        print(output)
    return 0

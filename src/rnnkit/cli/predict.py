"""``rnnkit predict DIR [DIR ...]``: apply a trained model to texts or a file, for whatever
task its config.json names."""

from __future__ import annotations

import argparse

from rnnkit.cli.evaluate import add_model_directories
from rnnkit.loading import load
from rnnkit.tasks import task_of


def add_predict_parser(commands) -> None:
    parser = commands.add_parser(
        "predict", help="apply a trained classifier, tagger or translator to texts or a file",
        description="Classifier: label and probabilities per text (--input: one text per "
                    "line). Tagger: a tag per token (--input: a CoNLL file, token first; "
                    "the output repeats each line with the tag appended; JSON adds the "
                    "entities with their character offsets). Translator: a greedy "
                    "translation per text ('rnnkit translate' offers beam search).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_model_directories(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="a text to process (repeatable)")
    source.add_argument("--input", help="file to process (see above)")
    parser.add_argument("--output-format", choices=("tsv", "json"), default="tsv",
                        help="TSV/CoNLL columns, or one JSON object per line")
    parser.set_defaults(run=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    task = task_of(args.model_dir[0])
    if task.predict_instead is not None:
        raise ValueError(f"predict: {args.model_dir[0]} holds a {task.name!r} model; "
                         f"{task.predict_instead}")
    pipeline = load(args.model_dir)
    for line in task.predict_lines(pipeline, args.text, args.input, args.output_format):
        print(line)
    return 0

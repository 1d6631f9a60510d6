"""``rnnkit predict DIR``: apply a trained task model, dispatching on config.json's task."""

from __future__ import annotations

import argparse

from rnnkit.cli import classify, tag
from rnnkit.cli.common import add_model_directories, ensemble_directories
from rnnkit.tasks import classification, tagging

PREDICTORS = {classification.TASK: classify.predict_classify, tagging.TASK: tag.predict_tag}
"""``predict`` per task stored in config.json."""


def add_predict_parser(commands) -> None:
    parser = commands.add_parser(
        "predict", help="apply a trained classifier or tagger to texts or a file",
        description="Classifier: label and probabilities per text (--input: one text per "
                    "line). Tagger: a tag per token (--input: a CoNLL file, token first; "
                    "the output repeats each line with the tag appended).",
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
    task = ensemble_directories(args, "predict", classification.TASK)
    if task not in PREDICTORS:
        raise ValueError(f"predict: {args.model_dir} holds a {task!r} model; predict serves "
                         f"{sorted(PREDICTORS)} models (use 'generate' for language models)")
    return PREDICTORS[task](args)

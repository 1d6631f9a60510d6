"""``rnnkit evaluate DIR [DIR ...]``: a trained model's metrics on a file, for whatever task
its config.json names (several classifiers form an ensemble)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rnnkit.cli.common import set_threads
from rnnkit.loading import load
from rnnkit.tasks import get_task, registered_tasks


def add_model_directories(parser: argparse.ArgumentParser) -> None:
    """``DIR [DIR ...]``: the model directory, or several classifiers (an ensemble)."""
    parser.add_argument("model_dir", metavar="DIR", nargs="+",
                        help="model directory; several classifiers form an ensemble (their "
                             "probabilities averaged)")


def add_evaluate_parser(commands) -> None:
    tasks = registered_tasks()
    parser = commands.add_parser(
        "evaluate", help="a model's metrics on a file, for the task in its config.json ("
                         + "; ".join(task.name for task in tasks) + ")",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_model_directories(parser)
    parser.add_argument("--data", required=True, help="file to score (the task's format)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: one per core; 1 runs faster on a "
                             "machine other processes share)")
    owners = {}
    for task in tasks:
        group = parser.add_argument_group(f"{task.name} models")
        task.add_evaluate_arguments(group)
        owners.update({action.dest: (task.name, action)  # argparse lists a group's options
                       for action in group._group_actions})  # nowhere public
    parser.set_defaults(run=run_evaluate, task_options=owners)


def run_evaluate(args: argparse.Namespace) -> int:
    set_threads(args)
    pipeline = load(args.model_dir)
    task = get_task(pipeline.task)
    for dest, (owner, action) in args.task_options.items():
        if owner != task.name and getattr(args, dest) != action.default:
            raise ValueError(f"evaluate: {max(action.option_strings, key=len)} is for {owner} "
                             f"models; {args.model_dir[0]} holds a {task.name!r} model")
    if not Path(args.data).exists():
        raise ValueError(f"--data {args.data!r}: no such file or folder")
    report = pipeline.evaluate(args.data, **task.evaluate_options(args))
    text = task.format_report(pipeline, report, args)
    print(json.dumps(report, ensure_ascii=False) if args.json else text)
    return 0

"""``rnnkit train TASK``: one command per registered task, each made of the task's own
arguments and the trainer's (:func:`rnnkit.cli.common.add_training_arguments`)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from rnnkit.cli.common import (
    add_training_arguments,
    given_limits,
    run_training,
    train_config_from_args,
)
from rnnkit.tasks import get_task, registered_tasks
from rnnkit.tasks.contract import Task, model_entries
from rnnkit.train import distributed


def add_train_parser(commands) -> None:
    train = commands.add_parser("train", help="train a model on plain files")
    tasks = train.add_subparsers(dest="task", metavar="TASK", required=True)
    for task in registered_tasks():
        parser = tasks.add_parser(task.name, help=task.summary,
                                  description=task.description or task.summary,
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        task.add_train_arguments(parser)
        add_training_arguments(parser, **asdict(task.training_defaults))
        parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    task = get_task(args.task)
    code = run_training(
        args, task.name, start=lambda: task.start(args, train_config_from_args(args)),
        resume=lambda: task.resume(args.out, quiet=args.quiet, limits=given_limits(args),
                                   **task.resume_options(args)),
        report=lambda trainer: print(task.describe_training(trainer, args.out)),
        inputs=[*task.input_files(args), ("--test", args.test)], entries=model_entries(),
        needs_data=task.needs_data(args),
    )
    if code == 0 and args.test and distributed.is_main():  # one process tests and records
        print(test_report(task, args))
    return code


def test_report(task: Task, args: argparse.Namespace) -> str:
    """``--test FILE``: the trained model's figures on FILE (:meth:`Task.test`, on the run's
    device), in the text ``rnnkit evaluate --data FILE`` prints with its other options left
    at their defaults."""
    pipeline, report = task.test(args.out, args.test, getattr(args, "device", None))
    evaluate_options = argparse.ArgumentParser().add_argument_group()
    task.add_evaluate_arguments(evaluate_options)
    defaults = {action.dest: action.default  # argparse lists a group's options nowhere
                for action in evaluate_options._group_actions}  # public
    return task.format_report(pipeline, report, argparse.Namespace(**defaults, data=args.test))

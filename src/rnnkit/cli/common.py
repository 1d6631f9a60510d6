"""Command-line pieces every ``rnnkit train TASK`` shares: the trainer's options, threads,
``--resume`` and a resumable stop on Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

import torch

from rnnkit.tasks.contract import RESUME_LIMITS
from rnnkit.train import TrainConfig, Trainer, distributed
from rnnkit.train.config import OPTIMIZERS, SCHEDULES
from rnnkit.train.model_dir import STATE_FILE
from rnnkit.train.run_directory import claim_run_directory


def add_training_arguments(parser: argparse.ArgumentParser, *, epochs: int, optimizer: str,
                           lr: float, clip: float) -> None:
    """The trainer's options (:class:`TrainConfig`) plus ``--out``, ``--resume``,
    ``--overwrite``, ``--threads`` and ``--quiet``, with task-specific defaults."""
    parser.set_defaults(limit_defaults={"epochs": epochs, "max_steps": 0, "max_minutes": 0.0},
                        training_parser=parser)
    train = parser.add_argument_group("training")
    # The stopping limits are absent from the args unless given, so that --resume replaces
    # only the limits given; train_config_from_args fills in the task's defaults otherwise.
    train.add_argument("--epochs", type=int, default=argparse.SUPPRESS,
                       help=f"passes over the data (default: {epochs})")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default=optimizer)
    train.add_argument("--lr", type=float, default=lr, help="learning rate")
    train.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--clip", type=float, default=clip, help="gradient-norm clip (0: none)")
    train.add_argument("--schedule", choices=SCHEDULES, default="constant",
                       help="learning-rate schedule")
    train.add_argument("--lr-decay", type=float, default=0.5,
                       help="factor of the step and plateau schedules")
    train.add_argument("--decay-start", type=int, default=4,
                       help="step schedule: decay after every epoch from this one on")
    train.add_argument("--patience", type=int, default=0, help="plateau schedule patience")
    train.add_argument("--early-stopping", type=int, default=0,
                       help="stop after N epochs without validation improvement (0: never)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--max-steps", type=int, default=argparse.SUPPRESS,
                       help="stop after N steps (default: 0, no cap)")
    train.add_argument("--max-minutes", type=float, default=argparse.SUPPRESS,
                       help="stop after this much training time (default: 0, no cap)")
    train.add_argument("--checkpoint-every", type=int, default=0,
                       help="also checkpoint every N steps inside an epoch")
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --out exactly where it stopped, "
                             "with its stored settings; --epochs, --max-steps or --max-minutes "
                             "given with it replace the stored limits (other settings given "
                             "with it are ignored, with a warning)")
    parser.add_argument("--overwrite", action="store_true",
                        help="let a new run replace the rnnkit model in --out (never other "
                             "files: a directory holding any is refused)")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: one per core; 1 runs faster on a "
                             "machine other processes share)")
    parser.add_argument("--test", metavar="FILE",
                        help="after training, evaluate the model the run keeps on FILE in "
                             "this process and print what 'rnnkit evaluate' prints (the "
                             "language model reads it in --eval-batch-size streams of --bptt "
                             "steps); recorded as a 'test' row of metrics.jsonl, also after "
                             "--resume and with --quiet")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summaries")


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, clip=args.clip, schedule=args.schedule,
        lr_decay=args.lr_decay, decay_start=args.decay_start, patience=args.patience,
        early_stopping=args.early_stopping, seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        **{name: getattr(args, name, args.limit_defaults[name]) for name in RESUME_LIMITS},
    )


def given_limits(args: argparse.Namespace) -> dict[str, float]:
    """The stopping limits given on the command line (for ``--resume``)."""
    return {name: getattr(args, name) for name in RESUME_LIMITS if hasattr(args, name)}


def set_threads(args: argparse.Namespace) -> None:
    """``--threads N``: torch's CPU threads for this process; absent, torch's default (one per
    core). On a machine other processes share, ``--threads 1`` (or ``OMP_WAIT_POLICY=PASSIVE``
    in the environment) keeps OpenMP's waiting threads from stalling on busy cores."""
    if args.threads is None:
        return
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)


RESUME_OPTIONS = {"out", "resume", "threads", "quiet", "device", "test", *RESUME_LIMITS}
"""What ``--resume`` takes from the command line (``--device``: the language model's); every
other option comes from the run."""


def ignored_on_resume(args: argparse.Namespace) -> list[str]:
    """The options given with ``--resume`` that it ignores, as flags (``["--hidden",
    "--lr"]``): those outside :data:`RESUME_OPTIONS` whose value is not their default, or that
    are present at all when their default is ``SUPPRESS``."""
    ignored = []
    for action in args.training_parser._actions:  # argparse lists a parser's options nowhere public
        name = action.dest
        if name in RESUME_OPTIONS or not action.option_strings or name not in args:
            continue
        value, default = getattr(args, name), action.default
        if isinstance(value, list | tuple) and isinstance(default, list | tuple):
            value, default = list(value), list(default)  # nargs=2 parses (3, 5) as [3, 5]
        if default is argparse.SUPPRESS or value != default:
            ignored.append(max(action.option_strings, key=len))
    return ignored


def run_training(args: argparse.Namespace, command: str, start: Callable[[], Trainer],
                 resume: Callable[[], Trainer], report: Callable[[Trainer], None], *,
                 inputs: Iterable[tuple[str, str | None]], entries: Collection[str],
                 needs_data: bool = True) -> int:
    """What every ``rnnkit train COMMAND`` does around its task: threads, ``--resume`` or a new
    run (which needs ``--data`` where ``needs_data``) in ``--out`` claimed by
    :func:`claim_run_directory` (with the run's ``inputs`` and the ``entries`` a model
    directory may hold), a resumable stop on Ctrl-C or SIGTERM (exit 130), then ``report``.
    Under torchrun only the first process claims ``--out`` and reports; every process trains;
    a run that torchrun restarts after a failure resumes from its checkpoint."""
    set_threads(args)
    if not args.resume and distributed.restarted() and (Path(args.out) / STATE_FILE).is_file():
        args.resume = True  # torchrun --max-restarts relaunched this run: it continues
    elif args.resume:
        ignored = ignored_on_resume(args)
        if ignored:
            warnings.warn(f"--resume continues with the run's stored settings; ignored: "
                          f"{', '.join(ignored)}", stacklevel=2)
    elif needs_data and not args.data:
        raise ValueError(f"train {command}: --data is required (or --resume to continue a run)")
    claim = claim_run_directory(args.out, resume=args.resume, overwrite=args.overwrite,
                                inputs=inputs, entries=entries) if distributed.is_main() \
        else contextlib.nullcontext()
    try:
        with claim:
            trainer = resume() if args.resume else start()
    except KeyboardInterrupt:
        if not distributed.is_main():
            return 130
        if not (Path(args.out) / STATE_FILE).is_file():
            print(f"rnnkit: interrupted before the first checkpoint; nothing kept in "
                  f"{args.out}", file=sys.stderr)
            return 130
        print(f"rnnkit: interrupted; the checkpoint in {args.out} is kept. Continue with: "
              f"rnnkit train {command} --out {args.out} --resume", file=sys.stderr)
        return 130
    except Exception:
        if distributed.world_size() > 1 and distributed.is_main() and \
                (Path(args.out) / STATE_FILE).is_file():
            print(f"rnnkit: the torchrun job failed (the error follows); the checkpoint in "
                  f"{args.out} is kept. Continue with the same torchrun options and: rnnkit "
                  f"train {command} --out {args.out} --resume", file=sys.stderr)
        raise
    if not args.quiet and distributed.is_main():
        report(trainer)
    return 0

"""Command-line pieces the task commands share: training options and output helpers."""

from __future__ import annotations

import argparse
import json

import torch

from rnnkit.train import TrainConfig
from rnnkit.train.config import OPTIMIZERS, SCHEDULES


def rnn_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE parsed as JSON when it is JSON (``true``, ``0.1``)."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_training_arguments(parser: argparse.ArgumentParser, *, epochs: int, optimizer: str,
                           lr: float, clip: float) -> None:
    """The trainer's options (:class:`TrainConfig`) plus ``--out``, ``--resume``,
    ``--threads`` and ``--quiet``, with task-specific defaults."""
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=epochs)
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
    train.add_argument("--max-steps", type=int, default=0, help="stop after N steps (0: no cap)")
    train.add_argument("--max-minutes", type=float, default=0.0,
                       help="stop after this much training time (0: no cap)")
    train.add_argument("--checkpoint-every", type=int, default=0,
                       help="also checkpoint every N steps inside an epoch")
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --out exactly where it stopped")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summaries")


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, clip=args.clip, schedule=args.schedule,
        lr_decay=args.lr_decay, decay_start=args.decay_start, patience=args.patience,
        early_stopping=args.early_stopping, seed=args.seed, max_steps=args.max_steps,
        max_minutes=args.max_minutes, checkpoint_every=args.checkpoint_every,
    )


def set_threads(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)


def print_best(history: list[dict], out: str, metric: str) -> None:
    """The epoch with the lowest validation loss and its ``metric``."""
    rows = [row for row in history if "valid_loss" in row]
    if not rows:
        print(f"model saved in {out}")
        return
    best = min(rows, key=lambda row: row["valid_loss"])
    print(f"best validation loss {best['valid_loss']:.4f}, {metric.replace('_', ' ')} "
          f"{best['valid_' + metric]:.4f} (epoch {best['epoch']}); model saved in {out}")

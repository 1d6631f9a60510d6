"""A tiny training run for ``test_distributed.py``, launched by torchrun or alone.

Trains (or, when ``--out`` holds a checkpoint and ``--resume`` is given, resumes) a language
model or a classifier through the task objects, as a user's script would, and writes this
process's final weights to ``FINAL.rankR.safetensors``. ``--kill-step S --kill-rank R``
kills process R with SIGKILL after its step S, on torchrun's first attempt only (so that
``--max-restarts`` resumes and goes on).
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

import torch
from safetensors.torch import save_file

from rnnkit.tasks import get_task
from rnnkit.tasks.classification import ClassificationData
from rnnkit.tasks.language_modeling import LMData
from rnnkit.train import TrainConfig, distributed
from rnnkit.train.model_dir import STATE_FILE


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", choices=("lm", "classify"), required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--final", required=True)
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--mode", choices=("stream", "sentences"), default="stream")
    parser.add_argument("--float64", action="store_true")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--kill-step", type=int, default=0)
    parser.add_argument("--kill-rank", type=int, default=1)
    return parser.parse_args()


def _kill_at(step: int, rank: int):
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"

    def callback(trainer, event: str, info: dict) -> None:
        if event == "step" and info["step"] == step and distributed.rank() == rank \
                and first_attempt:
            os.kill(os.getpid(), signal.SIGKILL)

    return callback


def main() -> None:
    args = _arguments()
    torch.set_num_threads(1)
    if args.float64:
        torch.set_default_dtype(torch.float64)
    task = get_task(args.task)
    callbacks = [_kill_at(args.kill_step, args.kill_rank)] if args.kill_step else []
    out = Path(args.out)
    if args.resume and (out / STATE_FILE).is_file():
        trainer = task.resume(out, quiet=True, callbacks=callbacks)
    else:
        train = TrainConfig(epochs=args.epochs, optimizer="adam", lr=0.01, clip=0.5,
                            checkpoint_every=args.checkpoint_every)
        if args.task == "lm":
            data = LMData(corpus=args.data, batch_size=args.batch_size, bptt=5,
                          eval_batch_size=2, valid_fraction=0.2, mode=args.mode)
            model = {"embed_size": 8, "hidden_size": 8, "num_layers": 1}
            trainer = task.train(data, model, train, out, quiet=True, callbacks=callbacks)
        else:
            data = ClassificationData(train=args.data, batch_size=args.batch_size,
                                      valid_fraction=0.25)
            model = {"embed_size": 8, "hidden_size": 8, "pooling": "max"}
            trainer = task.train(data, model, train, out, quiet=True, callbacks=callbacks,
                                 select="loss")
    weights = {name: value.contiguous() for name, value in trainer.model.state_dict().items()}
    save_file(weights, f"{args.final}.rank{distributed.rank()}.safetensors")


if __name__ == "__main__":
    main()

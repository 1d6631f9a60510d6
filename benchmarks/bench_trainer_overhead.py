"""What rnnkit's Trainer adds to a training step (issue 25): the whole-run recipe's language
model (PTB, 2 × 200 LSTM, dropout 0.2, bptt 35, batch 20, SGD lr 20, clip 0.25) trained by
``Trainer.fit`` and by a bare loop (zero_grad, forward with the fused loss, backward, clip,
SGD step, detach the carried state) on the same model and batches in one process, rounds
alternating; milliseconds per step over ``--steps`` steps after ``--warmup``.

    python benchmarks/bench_trainer_overhead.py [--threads 1] [--rounds 4] [--steps 60]
    python benchmarks/bench_trainer_overhead.py --profile [--threads 1] [--steps 20]

``--profile`` instead runs the bare loop's ``--steps`` steps (after ``--warmup``) under
``torch.profiler`` and prints its operators' self time per step, largest first: where a step's
time goes besides the products.

Needs PTB prepared as ``benchmarks/bench_ddp.py`` prepares it (``runs/bench_ddp/base``; run
that benchmark once, or pass ``--base``). Prints the medians; figures in RESULTS, "Whole run
against word_language_model".
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from timing import StepClock
from torch import nn

from rnnkit.models import detach_state
from rnnkit.tasks import get_task
from rnnkit.tasks.language_modeling import CORPUS_DIR, LanguageModelTraining
from rnnkit.train import TrainConfig, Trainer
from rnnkit.train.model_dir import CONFIG_FILE, VOCAB_FILE, read_config

ROOT = Path(__file__).resolve().parents[1]
RECIPE = {"bptt": 35, "dropout": 0.2, "lr": 20.0, "clip": 0.25}


def recipe(base: Path) -> tuple[Path, LanguageModelTraining, nn.Module]:
    """The recipe's run directory (a temporary one linking ``base``'s PTB), its training data
    without validation, and its model drawn with seed 0."""
    task = get_task("lm")
    config = read_config(base, task.name)
    config["data"] = {**config["data"], "bptt": RECIPE["bptt"]}
    config["model"] = {**config["model"], "dropout": RECIPE["dropout"]}
    run = Path(tempfile.mkdtemp(prefix="bench_trainer_"))
    for name in (CONFIG_FILE, VOCAB_FILE, CORPUS_DIR):
        (run / name).symlink_to((base / name).resolve())
    training = task.training(run, config, quiet=True, device="cpu", seed=0, reuse={})
    training.valid = None  # steps only
    torch.manual_seed(0)
    return run, training, task.build_model(config)


def bare_loop_ms(training: LanguageModelTraining, model: nn.Module, warmup: int,
                 steps: int) -> float:
    """Milliseconds per step of the bare loop (zero_grad, forward with the fused loss,
    backward, clip, SGD step, detach the carried state) over ``steps`` steps after
    ``warmup``."""
    batches, carry = training.train_batches(0), None
    optimizer = torch.optim.SGD(model.parameters(), lr=RECIPE["lr"])
    model.train()
    started = time.perf_counter()
    for index in range(warmup + steps):
        if index == warmup:
            started = time.perf_counter()
        x, y = batches[index]
        optimizer.zero_grad(set_to_none=True)
        output = model(x, carry, targets=y)
        output.loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), RECIPE["clip"])
        optimizer.step()
        carry = detach_state(output.state)
    return (time.perf_counter() - started) / max(1, steps) * 1e3


def operator_profile(training: LanguageModelTraining, model: nn.Module, warmup: int,
                     steps: int, rows: int = 25) -> str:
    """A table of the bare loop's ``rows`` costliest operators: self time per step (ms) and
    calls per step, over ``steps`` profiled steps after ``warmup``."""
    bare_loop_ms(training, model, warmup, 0)
    with torch.profiler.profile() as profile:
        bare_loop_ms(training, model, 0, steps)
    events = sorted(profile.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    lines = ["| operator | self ms per step | calls per step |", "|---|---:|---:|"]
    lines += [f"| {e.key} | {e.self_cpu_time_total / 1e3 / steps:.2f} | {e.count / steps:g} |"
              for e in events[:rows]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--base", type=Path, default=ROOT / "runs" / "bench_ddp" / "base")
    parser.add_argument("--profile", action="store_true",
                        help="profile the bare loop's operators instead of timing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run, training, model = recipe(args.base)
    if args.profile:
        try:
            print(operator_profile(training, model, args.warmup, args.steps))
        finally:
            shutil.rmtree(run, ignore_errors=True)
        return
    last = args.warmup + args.steps

    def trainer_ms() -> float:
        clock = StepClock(args.warmup, last)
        train = TrainConfig(epochs=1, optimizer="sgd", lr=RECIPE["lr"], clip=RECIPE["clip"],
                            max_steps=last)
        Trainer(model, training, train, run, quiet=True, callbacks=[clock]).fit()
        return (clock.times[last] - clock.times[args.warmup]) / args.steps * 1e3

    def bare_ms() -> float:
        return bare_loop_ms(training, model, args.warmup, args.steps)

    runs = {"Trainer.fit": trainer_ms, "bare loop": bare_ms}
    times: dict[str, list[float]] = {name: [] for name in runs}
    try:
        for index in range(args.rounds):
            order = list(runs) if index % 2 == 0 else list(runs)[::-1]
            for name in order:
                times[name].append(runs[name]())
    finally:
        shutil.rmtree(run, ignore_errors=True)
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.1f} ms/step "
              f"({', '.join(f'{value:.1f}' for value in values)}), {args.threads} thread(s)")


if __name__ == "__main__":
    main()

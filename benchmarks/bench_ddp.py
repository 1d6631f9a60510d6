"""Training throughput under torchrun (issue 21): PTB small (Zaremba et al.'s recipe as
RESULTS records it: 2 × 200 LSTM, embedding 200, init range 0.1, dropout 0, SGD lr 20, clip
0.25, bptt 20, global batch 20) trained by the real trainer in three setups, in the same run:

- ``1x1``: one process, one torch thread;
- ``1x2``: one process, two torch threads;
- ``2x1``: ``torchrun --nproc-per-node 2``, one thread per process (gloo over loopback),
  each process taking 10 of the 20 rows;
- ``2x1-view``, ``2x1-b4``: as ``2x1`` with DistributedDataParallel's
  ``gradient_as_bucket_view=True`` (no copy of each gradient into its bucket), and with that
  plus ``bucket_cap_mb=4`` (the decoder's gradient all-reduced while the LSTM's backward runs);
- ``half``: one process, one thread, training on 10 rows (a ``2x1`` process's share) with no
  communication at all. Twice its tokens/s is what ``2x1`` would reach if the all-reduce
  were free — the bound this recipe's computation puts on two one-thread processes.

Each launch trains ``--warmup`` steps, then is timed over ``--steps`` steps (tokens of the
global batch per second, measured in the first process from the trainer's step callbacks;
process start, corpus mapping and the first checkpoint are outside the window). Launches
alternate between the setups, the order rotating each round; each figure is the median over
``--rounds``. Every process reports its torch thread count, and a setup whose processes did
not run with the threads it asked for fails the benchmark.

    python benchmarks/bench_ddp.py [--steps 300] [--warmup 20] [--rounds 3]

The corpus is prepared once into ``--work`` (default ``runs/bench_ddp``). Validation is left
out of the timed runs (throughput only). Writes benchmarks/results/ddp.md and prints it.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from timing import StepClock

from rnnkit.tasks import get_task
from rnnkit.tasks.language_modeling import CORPUS_DIR, LMData
from rnnkit.train import TrainConfig, Trainer, distributed
from rnnkit.train.model_dir import CONFIG_FILE, VOCAB_FILE, read_config, write_config

ROOT = Path(__file__).resolve().parents[1]
PTB = ROOT.parent / "shared" / "data" / "ptb"
SMALL = {"embed_size": 200, "hidden_size": 200, "num_layers": 2, "dropout": 0.0,
         "init_range": 0.1}
SETUPS = {"1x1": (1, 1), "1x2": (1, 2), "2x1": (2, 1), "2x1-view": (2, 1), "2x1-b4": (2, 1),
          "half": (1, 1)}  # name: (processes, threads each)
DDP_OPTIONS = {"2x1-view": {"gradient_as_bucket_view": True},
               "2x1-b4": {"gradient_as_bucket_view": True, "bucket_cap_mb": 4}}
HALF_ROWS = 10


def _train_config(steps: int) -> TrainConfig:
    return TrainConfig(epochs=1, optimizer="sgd", lr=20.0, clip=0.25, seed=0, max_steps=steps)


def prepare_corpus(work: Path, data_dir: Path) -> Path:
    """``work/base``: PTB train prepared (memory-mapped ids) with the recipe's config."""
    base = work / "base"
    if (base / CONFIG_FILE).is_file():
        return base
    base.mkdir(parents=True, exist_ok=True)
    data = LMData(corpus=str(data_dir / "ptb.train.txt"), valid=str(data_dir / "ptb.valid.txt"),
                  tokenizer="whitespace", batch_size=20, bptt=20, eval_batch_size=10)
    task = get_task("lm")
    train = _train_config(1)
    prepared = task.prepare(data, SMALL, train, base, quiet=True)
    write_config(base, task.name, {**prepared.sections, "train": train.to_dict()})
    return base


def worker(run_dir: Path, setup: str, threads: int, warmup: int, steps: int,
           result: Path) -> None:
    """One process of a launch: train ``warmup + steps`` steps; the first process writes
    ``result`` (tokens/s over the timed steps, every process's thread count)."""
    torch.set_num_threads(threads)
    if setup in DDP_OPTIONS:
        distributed.DistributedDataParallel = functools.partial(
            distributed.DistributedDataParallel, **DDP_OPTIONS[setup])
    task = get_task("lm")
    config = read_config(run_dir, task.name)
    if setup == "half":
        config["data"] = {**config["data"], "batch_size": HALF_ROWS}
    clock = StepClock(warmup, warmup + steps)
    with distributed.session("cpu"):
        training = task.training(run_dir, config, quiet=True, device="cpu", seed=0, reuse={})
        training.valid = None  # throughput only: the runs end without an evaluation
        torch.manual_seed(0)
        model = task.build_model(config)
        trainer = Trainer(model, training, _train_config(warmup + steps), run_dir,
                          quiet=True, callbacks=[clock])
        trainer.fit()
        thread_counts = distributed.all_gather(torch.get_num_threads())
        if distributed.is_main():
            tokens = steps * training.data.batch_size * training.data.bptt
            seconds = clock.times[clock.last] - clock.times[clock.first]
            result.write_text(json.dumps({"tokens_per_s": tokens / seconds,
                                          "threads": thread_counts}))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(setup: str, base: Path, run_dir: Path, warmup: int, steps: int) -> float:
    """Train in ``setup`` from a fresh ``run_dir``; tokens/s."""
    processes, threads = SETUPS[setup]
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    for name in (CONFIG_FILE, VOCAB_FILE, CORPUS_DIR):
        (run_dir / name).symlink_to((base / name).resolve())
    result = run_dir / "result.json"
    job = [str(Path(__file__).resolve()), "--worker", str(run_dir), "--setup", setup,
           "--threads", str(threads),
           "--warmup", str(warmup), "--steps", str(steps), "--result", str(result)]
    if processes == 1:
        command = [sys.executable, *job]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
                   str(processes), "--master-addr", "127.0.0.1", "--master-port",
                   str(_free_port()), *job]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, env=environment, check=True, timeout=3600)
    measured = json.loads(result.read_text())
    if measured["threads"] != [threads] * processes:
        raise RuntimeError(f"{setup}: expected {processes} process(es) with {threads} "
                           f"thread(s) each, got thread counts {measured['threads']}")
    return measured["tokens_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="timed steps per launch")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_ddp")
    parser.add_argument("--data-dir", type=Path, default=PTB)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ddp.md")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--setups", nargs="+", choices=list(SETUPS), default=list(SETUPS),
                        help="which setups to launch (1x1 is always included)")
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.setup, args.threads, args.warmup, args.steps, args.result)
        return
    base = prepare_corpus(args.work, args.data_dir)
    names = [name for name in SETUPS if name == "1x1" or name in args.setups]
    figures: dict[str, list[float]] = {name: [] for name in names}
    for index in range(args.rounds):
        for name in names[index % len(names):] + names[:index % len(names)]:
            figures[name].append(launch(name, base, args.work / name, args.warmup,
                                        args.steps))
            print(f"round {index + 1}: {name} {figures[name][-1]:,.0f} tokens/s", flush=True)
    medians = {name: statistics.median(values) for name, values in figures.items()}
    heading = (f"PTB small training throughput, {args.steps} timed steps after "
               f"{args.warmup} (global batch 20 × bptt 20), median of {args.rounds} "
               f"alternating launches (``half``: 10 rows, one process); "
               f"{datetime.date.today()}, "
               f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
               f"torch {torch.__version__}, Python {platform.python_version()}")
    lines = [
        heading,
        "",
        "| setup | tokens/s (median) | all launches | × 1x1 |",
        "|---|---:|---|---:|",
    ]
    for name in names:
        launches = ", ".join(f"{value:,.0f}" for value in figures[name])
        lines.append(f"| {name} | {medians[name]:,.0f} | {launches} | "
                     f"{medians[name] / medians['1x1']:.2f} |")
    if "half" in medians:
        bound = 2 * medians["half"]
        lines += ["", (f"2 × half (two one-thread processes with a free all-reduce): "
                      f"{bound:,.0f} tokens/s, {bound / medians['1x1']:.2f} × 1x1")]
    table = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()

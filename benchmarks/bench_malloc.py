"""What the command line's allocator setting (``rnnkit.cli.allocator``) does to the whole-run
recipe's training steps (issue 25): the bare loop of ``bench_trainer_overhead.py`` (PTB, 2 × 200
LSTM, dropout 0.2, bptt 35, batch 20, SGD, clip 0.25) in fresh processes, alternately with glibc's
default thresholds and with ``keep_freed_memory()``; milliseconds and minor page faults per step.

    python benchmarks/bench_malloc.py [--threads 1] [--rounds 4] [--steps 40]

Each round starts one process of each kind (the order alternating), since the setting is the
process's. Needs PTB prepared as ``bench_ddp.py`` prepares it (``runs/bench_ddp/base``). Prints
the medians; figures in RESULTS, "Whole run against word_language_model".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from bench_trainer_overhead import ROOT, bare_loop_ms, recipe

from rnnkit.cli.allocator import keep_freed_memory

KINDS = ("default", "kept")


def child(kind: str, threads: int, steps: int, warmup: int, base: Path) -> None:
    """One process: the bare loop's ms per step and minor faults per step, as JSON."""
    if kind == "kept" and not keep_freed_memory():
        raise SystemExit("keep_freed_memory() did not apply (a MALLOC_* variable, or not glibc)")
    torch.set_num_threads(threads)
    run, training, model = recipe(base)
    try:
        bare_loop_ms(training, model, warmup, 0)  # warm-up steps, untimed
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        ms = bare_loop_ms(training, model, 0, steps)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps
    finally:
        shutil.rmtree(run, ignore_errors=True)
    print(json.dumps({"ms": ms, "faults": faults}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--base", type=Path, default=ROOT / "runs" / "bench_ddp" / "base")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads, args.steps, args.warmup, args.base)
        return
    results: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for index in range(args.rounds):
        for kind in KINDS if index % 2 == 0 else KINDS[::-1]:
            command = [sys.executable, __file__, "--child", kind, "--threads", str(args.threads),
                       "--steps", str(args.steps), "--warmup", str(args.warmup),
                       "--base", str(args.base)]
            output = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
            results[kind].append(json.loads(output.stdout.splitlines()[-1]))
    print(f"- machine: {platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}, "
          f"{' '.join(platform.libc_ver())}; {args.threads} thread(s), {args.steps} steps")
    for kind, rows in results.items():
        each = ", ".join(f"{row['ms']:.1f}" for row in rows)
        print(f"- {kind}: median {statistics.median(r['ms'] for r in rows):.1f} ms/step ({each}), "
              f"{statistics.median(r['faults'] for r in rows):,.0f} minor faults/step")
    ratios = [kept["ms"] / default["ms"] for kept, default in zip(results["kept"],
                                                                     results["default"])]
    print(f"- kept / default, round by round: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()

"""OpenMP's wait policy and thread count for ``rnnkit train lm``, on a quiet and a loaded machine.

Each setting runs the word_language_model recipe of ``bench_wholerun.py`` (2 × 200 LSTM, PTB,
dropout 0.2, SGD lr 20, clip 0.25, bptt 35, batch 20) for ``--steps`` steps as a fresh
``python -m rnnkit train lm`` process, and reads the training tokens/s it logs
(metrics.jsonl). Settings: torch's default thread count under OpenMP's default wait policy
(``OMP_WAIT_POLICY`` unset), under ``PASSIVE``, under ``ACTIVE`` and with a short spin
(``GOMP_SPINCOUNT``), and ``--threads 1``. The
machine is "loaded" by ``--competitors`` busy processes started here, each a one-thread matrix
product loop (another job on the same cores); each load runs every setting ``--rounds`` times,
interleaved, and the table gives the median.

    python benchmarks/bench_wait_policy.py [--competitors 0 1] [--rounds 3] [--steps 150]

Writes benchmarks/results/wait_policy.md and prints the table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PTB = ROOT.parent / "shared" / "data" / "ptb"
SETTINGS = {  # name: (OpenMP environment, rnnkit's --threads or None)
    "default threads, policy unset": ({}, None),
    "default threads, PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, None),
    "default threads, ACTIVE": ({"OMP_WAIT_POLICY": "ACTIVE"}, None),
    "default threads, GOMP_SPINCOUNT=10000": ({"GOMP_SPINCOUNT": "10000"}, None),
    "--threads 1": ({}, 1),
}
"""GOMP_SPINCOUNT (GNU OpenMP, which torch's Linux wheels use) bounds how long a waiting thread
spins before it sleeps: the unset policy spins 300,000 times, ACTIVE practically forever,
PASSIVE not at all."""
COMPETITOR = ("import torch\ntorch.set_num_threads(1)\nx = torch.randn(384, 384)\n"
              "while True:\n    x = torch.tanh(x @ x)\n")


def train_tokens_per_s(data: Path, work: Path, steps: int, openmp: dict[str, str],
                       threads: int | None) -> float:
    """One fresh training process of ``steps`` steps under the ``openmp`` environment
    variables (others of OpenMP's removed); the tokens/s it logged."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    environment.update(openmp)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    out = work / "model"
    command = [sys.executable, "-m", "rnnkit", "train", "lm", "--data", str(data / "ptb.train.txt"),
               "--valid", str(work / "valid.txt"), "--tokenizer", "whitespace",
               "--embed", "200", "--hidden", "200", "--layers", "2", "--dropout", "0.2",
               "--init-range", "0.1", "--lr", "20", "--clip", "0.25", "--bptt", "35",
               "--batch-size", "20", "--epochs", "1", "--max-steps", str(steps),
               "--out", str(out), "--overwrite", "--quiet",
               *(["--threads", str(threads)] if threads else [])]
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return rows[-1]["tokens_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--competitors", type=int, nargs="+", default=[0, 1],
                        help="busy processes to run beside training, one load per value")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150, help="training steps per run")
    parser.add_argument("--data", type=Path, default=PTB, help="folder with PTB's files")
    args = parser.parse_args()
    if args.rounds < 1 or args.steps < 1 or min(args.competitors) < 0:
        raise SystemExit(f"bench_wait_policy: --rounds and --steps must be ≥ 1 and "
                         f"--competitors ≥ 0, got {args.rounds}, {args.steps}, "
                         f"{args.competitors}")
    results: dict[int, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_wait_policy-") as temporary:
        work = Path(temporary)
        # a short validation file: every run ends with a validation pass, not timed but waited for
        lines = (args.data / "ptb.valid.txt").read_text(encoding="utf-8").splitlines(True)
        (work / "valid.txt").write_text("".join(lines[:200]), encoding="utf-8")
        names = list(SETTINGS)
        for competitors in args.competitors:
            busy = [subprocess.Popen([sys.executable, "-c", COMPETITOR])
                    for _ in range(competitors)]
            try:
                time.sleep(1.0 if busy else 0.0)  # let them start
                results[competitors] = {name: [] for name in names}
                for round_index in range(args.rounds):
                    shift = round_index % len(names)
                    for name in names[shift:] + names[:shift]:
                        speed = train_tokens_per_s(args.data, work, args.steps, *SETTINGS[name])
                        results[competitors][name].append(speed)
                        print(f"competitors {competitors}, {name}: {speed:,.0f} tokens/s",
                              flush=True)
            finally:
                for process in busy:
                    process.kill()
                    process.wait()
    header = (
        "# OpenMP wait policy and threads: `rnnkit train lm` tokens/s (word_language_model "
        "recipe)\n\n"
        f"- date: {datetime.datetime.now():%Y-%m-%d %H:%M}\n"
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"load average at the end {os.getloadavg()[0]:.2f}\n"
        f"- median of {args.rounds} interleaved runs of {args.steps} steps per cell\n"
        f"- command: `python benchmarks/bench_wait_policy.py --competitors "
        f"{' '.join(map(str, args.competitors))} --rounds {args.rounds} --steps {args.steps}`\n\n"
    )
    lines = ["| setting | " + " | ".join(f"{c} competitor(s)" for c in args.competitors) + " |",
             "|---|" + "---:|" * len(args.competitors)]
    for name in SETTINGS:
        lines.append(f"| {name} | " + " | ".join(
            f"{statistics.median(results[c][name]):,.0f}" for c in args.competitors) + " |")
    text = header + "\n".join(lines) + "\n"
    out = ROOT / "benchmarks" / "results" / "wait_policy.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()

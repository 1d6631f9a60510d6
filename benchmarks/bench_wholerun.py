"""Whole-run time against pytorch/examples' word_language_model: one PTB epoch, start to test.

Both programs run the example's default recipe (2 × 200 LSTM, embedding 200, dropout 0.2, SGD
lr 20, clip 0.25, bptt 35, batch 20, validation and test at batch 10) for ``--epochs`` epochs,
each as a user would start it, in separate processes, alternating which goes first:

- the example: ``python DIR/main.py --data D --epochs 1 --save D/model.pt`` (its code is read
  from ``--example DIR``, a folder holding word_language_model's ``main.py``, ``model.py`` and
  ``data.py``; it is never part of this repository);
- rnnkit: ``python -m rnnkit train lm … --test D/test.txt`` with the same settings
  (``--init-range 0.1``: the example draws its embedding and decoder from U(-0.1, 0.1), its
  LSTM from torch's default); ``--test`` evaluates the kept model in the same process in
  ``--eval-batch-size`` (10) streams, as the example's test pass does (``rnnkit evaluate``'s
  default, batch 1, is the stricter and slower measure).

Wall time covers everything each program does (start-up, reading the corpus, training,
validation, saving, the test pass). Train tokens/s is each program's own figure: the mean of
the example's ``ms/batch`` log lines, rnnkit's ``tokens_per_s`` in metrics.jsonl. "default"
threads leaves both at torch's default; "1" runs the example under ``OMP_NUM_THREADS=1`` and
rnnkit with ``--threads 1``. PTB's files are linked into a temporary folder named as the
example expects (``train.txt``, ``valid.txt``, ``test.txt``); ``--max-train-tokens`` cuts the
training file there, for a quick check of the script.

    python benchmarks/bench_wholerun.py --example ../ext/word_language_model \\
        [--rounds 2] [--one-thread-rounds 1] [--max-train-tokens N]

Writes benchmarks/results/wholerun.md (and .json) and prints the table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PTB = ROOT.parent / "shared" / "data" / "ptb"
EXAMPLE_FILES = ("main.py", "model.py", "data.py")
RECIPE = {"embed": 200, "hidden": 200, "layers": 2, "dropout": 0.2, "lr": 20, "clip": 0.25,
          "bptt": 35, "batch_size": 20, "eval_batch_size": 10}
"""word_language_model's defaults; rnnkit is given the same."""


@dataclass
class Run:
    program: str  # "example" or "rnnkit"
    threads: str  # "default" or "1"
    round: int
    wall_s: float
    cpu_s: float  # user + system time of the program's processes
    train_tokens_per_s: float | None
    test_ppl: float | None


def corpus_folder(data: Path, folder: Path, max_train_tokens: int) -> Path:
    """``folder`` with train.txt, valid.txt and test.txt: links to PTB's files, or the training
    file's first lines up to ``max_train_tokens`` words (each line's ``</s>`` counted)."""
    for part in ("train", "valid", "test"):
        source = data / f"ptb.{part}.txt"
        if not source.is_file():
            raise SystemExit(f"bench_wholerun: --data {data} holds no {source.name}")
        target = folder / f"{part}.txt"
        if part == "train" and max_train_tokens:
            kept, count = [], 0
            with source.open(encoding="utf-8") as lines:
                for line in lines:
                    count += len(line.split()) + 1
                    if count > max_train_tokens:
                        break
                    kept.append(line)
            target.write_text("".join(kept), encoding="utf-8")
        else:
            target.symlink_to(source.resolve())
    return folder


def timed(commands: list[list[str]], environment: dict[str, str], log: Path) -> tuple[float, float]:
    """Run ``commands`` one after another (stdout and stderr appended to ``log``); wall and CPU
    seconds of them all. A failing command stops the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log.open("a", encoding="utf-8") as sink:
        for command in commands:
            sink.write("$ " + " ".join(command) + "\n")
            sink.flush()
            result = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT,
                                    env=environment, check=False)
            if result.returncode != 0:
                raise SystemExit(f"bench_wholerun: {command[1:3]} failed ({result.returncode}); "
                                 f"see {log}")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run_example(example: Path, corpus: Path, work: Path, threads: str, epochs: int,
                round_index: int) -> Run:
    log = work / f"example-{threads}-{round_index}.log"
    environment = dict(os.environ)
    if threads == "1":
        environment["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, str(example / "main.py"), "--data", str(corpus), "--epochs",
               str(epochs), "--save", str(work / "example-model.pt")]
    wall, cpu = timed([command], environment, log)
    text = log.read_text(encoding="utf-8")
    batch_ms = [float(value) for value in re.findall(r"ms/batch\s+([\d.]+)", text)]
    tokens_per_s = (RECIPE["batch_size"] * RECIPE["bptt"] * 1000 / statistics.mean(batch_ms)
                    if batch_ms else None)
    test = re.search(r"test ppl\s+([\d.]+)", text)
    return Run("example", threads, round_index, wall, cpu, tokens_per_s,
               float(test.group(1)) if test else None)


def run_rnnkit(corpus: Path, work: Path, threads: str, epochs: int, seed: int,
               round_index: int) -> Run:
    log = work / f"rnnkit-{threads}-{round_index}.log"
    out = work / "rnnkit-model"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    thread_option = ["--threads", "1"] if threads == "1" else []
    rnnkit = [sys.executable, "-m", "rnnkit"]
    train = [*rnnkit, "train", "lm", "--data", str(corpus / "train.txt"),
             "--valid", str(corpus / "valid.txt"), "--tokenizer", "whitespace",
             "--embed", str(RECIPE["embed"]), "--hidden", str(RECIPE["hidden"]),
             "--layers", str(RECIPE["layers"]), "--dropout", str(RECIPE["dropout"]),
             "--init-range", "0.1", "--optimizer", "sgd", "--lr", str(RECIPE["lr"]),
             "--clip", str(RECIPE["clip"]), "--bptt", str(RECIPE["bptt"]),
             "--batch-size", str(RECIPE["batch_size"]),
             "--eval-batch-size", str(RECIPE["eval_batch_size"]), "--epochs", str(epochs),
             "--seed", str(seed), "--out", str(out), "--overwrite", "--quiet",
             "--test", str(corpus / "test.txt"), *thread_option]
    wall, cpu = timed([train], environment, log)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs_run = [row for row in rows if "tokens_per_s" in row]
    test = next(row for row in rows if "test" in row)
    return Run("rnnkit", threads, round_index, wall, cpu,
               statistics.mean(row["tokens_per_s"] for row in epochs_run), test["test_ppl"])

def table(runs: list[Run]) -> str:
    """One row per run, then the medians and rnnkit's ratio to the example per thread setting."""
    def figure(value: float | None, pattern: str) -> str:
        return "—" if value is None else format(value, pattern)

    lines = ["| threads | round | program | wall s | CPU s | train tokens/s | test ppl |",
             "|---|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {r.threads} | {r.round} | {r.program} | {r.wall_s:.1f} | {r.cpu_s:.1f} | "
              f"{figure(r.train_tokens_per_s, ',.0f')} | {figure(r.test_ppl, '.1f')} |"
              for r in runs]
    lines += ["", ("| threads | example wall s | rnnkit wall s | rnnkit / example | "
                   "example tokens/s | rnnkit tokens/s | example test ppl | rnnkit test ppl |"),
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for threads in dict.fromkeys(r.threads for r in runs):
        medians = {}
        for program in ("example", "rnnkit"):
            mine = [r for r in runs if r.threads == threads and r.program == program]
            speeds = [r.train_tokens_per_s for r in mine if r.train_tokens_per_s is not None]
            ppls = [r.test_ppl for r in mine if r.test_ppl is not None]
            medians[program] = (statistics.median(r.wall_s for r in mine),
                                statistics.median(speeds) if speeds else None,
                                statistics.median(ppls) if ppls else None)
        (e_wall, e_speed, e_ppl), (r_wall, r_speed, r_ppl) = medians["example"], medians["rnnkit"]
        lines.append(f"| {threads} | {e_wall:.1f} | {r_wall:.1f} | {r_wall / e_wall:.2f}× | "
                     f"{figure(e_speed, ',.0f')} | {figure(r_speed, ',.0f')} | "
                     f"{figure(e_ppl, '.1f')} | {figure(r_ppl, '.1f')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", type=Path, required=True,
                        help="folder with word_language_model's main.py, model.py, data.py")
    parser.add_argument("--data", type=Path, default=PTB,
                        help="folder with ptb.train.txt, ptb.valid.txt, ptb.test.txt")
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs of each program at the default thread count")
    parser.add_argument("--one-thread-rounds", type=int, default=1,
                        help="runs of each program on one thread (0: none)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="rnnkit's --seed")
    parser.add_argument("--max-train-tokens", type=int, default=0,
                        help="cut the training file to about this many tokens (0: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "wholerun.md")
    args = parser.parse_args()
    missing = [name for name in EXAMPLE_FILES if not (args.example / name).is_file()]
    if missing:
        raise SystemExit(f"bench_wholerun: --example {args.example} lacks {', '.join(missing)}")
    if min(args.rounds, args.one_thread_rounds, args.epochs) < 0 or args.epochs == 0:
        raise SystemExit("bench_wholerun: --rounds and --one-thread-rounds must be ≥ 0, "
                         f"--epochs ≥ 1; got {args.rounds}, {args.one_thread_rounds}, "
                         f"{args.epochs}")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench_wholerun-") as temporary:
        work = Path(temporary)
        (work / "ptb").mkdir()
        corpus = corpus_folder(args.data, (work / "ptb").resolve(), args.max_train_tokens)
        schedule = [("default", i) for i in range(args.rounds)] + \
                   [("1", i) for i in range(args.one_thread_rounds)]
        for turn, (threads, round_index) in enumerate(schedule):
            programs = ["example", "rnnkit"] if turn % 2 == 0 else ["rnnkit", "example"]
            for program in programs:
                if program == "example":
                    run = run_example(args.example.resolve(), corpus, work, threads,
                                      args.epochs, round_index)
                else:
                    run = run_rnnkit(corpus, work, threads, args.epochs, args.seed, round_index)
                runs.append(run)
                print(f"{program:8s} threads={threads:7s} round {round_index}: "
                      f"{run.wall_s:.1f} s, test ppl {run.test_ppl}", flush=True)
    command = "python benchmarks/bench_wholerun.py " + " ".join(
        f"--{key.replace('_', '-')} {value}" for key, value in vars(args).items()
        if key != "out")
    header = (
        "# Whole run against pytorch/examples' word_language_model (PTB, "
        f"{args.epochs} epoch(s))\n\n"
        f"- date: {datetime.datetime.now():%Y-%m-%d %H:%M}\n"
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average at the end {os.getloadavg()[0]:.2f}; OMP_WAIT_POLICY "
        f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}\n"
        f"- versions: python {platform.python_version()}, torch {_torch_version()}\n"
        f"- training file: {'all of it' if not args.max_train_tokens else 'cut to about ' + str(args.max_train_tokens) + ' tokens'}"
        f"; order alternates, the example first in the first turn\n"
        f"- command: `{command}`\n\n")
    text = header + table(runs) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(
        json.dumps([asdict(run) for run in runs], indent=1) + "\n", encoding="utf-8")
    print(text)


def _torch_version() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    main()

"""Text pipeline benchmark (not a test): English and Chinese throughput, prepare's memory.

    python benchmarks/bench_text.py [--repeats 5] [--data ../shared/data]

* english: word tokenize + Vocab.build + encode over PTB train (in memory), MB of UTF-8 text per
  second of CPU time and of wall clock.
* chinese: rnnkit's ``chinese`` (and ``auto``) tokenizer against ``jieba.lcut`` alone on the
  ChnSentiCorp hotel reviews, interleaved slice by slice, ratio = jieba's time / ours.
* prepare: peak RSS of ``rnnkit.data.prepare`` in a fresh process on PTB train ×1 and ×4.

Pins itself to one CPU core (children inherit it), warms every runner up once, and writes
benchmarks/results/text.md with the machine and versions.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jieba
import numpy
import torch

from rnnkit.data import read_corpus, read_labeled
from rnnkit.text import Vocab, get_tokenizer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "text.md"
TARGET_ENGLISH_MBPS = 5.0
TARGET_CHINESE_RATIO = 0.9
PREPARE_CHILD = (
    "import sys; from rnnkit.data import prepare; "
    "prepare(sys.argv[1], sys.argv[2], tokenizer='word', progress=True)"
)


def pin_to_one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    torch.set_num_threads(1)


def median_times(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median (wall seconds, CPU seconds of this process) of ``run`` after one warm-up.

    The CPU time is what the run costs on a core of its own; the wall time also counts the
    waits for a core when other work shares the machine.
    """
    run()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def english_pipeline(lines: list[str]) -> Callable[[], object]:
    tokenizer = get_tokenizer("word")

    def run() -> object:
        token_lists = [tokenizer.tokenize(line) for line in lines]
        vocab = Vocab.build(token_lists)
        return [vocab.encode(tokens) for tokens in token_lists]

    return run


def bench_english(data: Path, repeats: int) -> dict:
    path = data / "ptb" / "ptb.train.txt"
    lines = list(read_corpus(path))
    megabytes = sum(len(line.encode("utf-8")) + 1 for line in lines) / 1e6
    wall, cpu = median_times(english_pipeline(lines), repeats)
    return {
        "file": path,
        "megabytes": megabytes,
        "wall": wall,
        "cpu": cpu,
        "mbps_wall": megabytes / wall,
        "mbps_cpu": megabytes / cpu,
    }


def sliced_medians(
    runners: dict[str, Callable[[list[str]], object]], items: list[str], repeats: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Runners over the same items, interleaved slice by slice (100 items, order rotating) so
    that load from other work on the machine falls on all of them alike. Returns the median
    seconds per runner over ``repeats`` rounds, and per runner the median over rounds of its
    time relative to the first runner (first runner's time / its time)."""
    names = list(runners)
    for run in runners.values():
        run(items[:500])  # warm-up: jieba loads its dictionary here
    slices = [items[start : start + 100] for start in range(0, len(items), 100)]
    rounds: list[dict[str, float]] = []
    for _ in range(repeats):
        totals = dict.fromkeys(names, 0.0)
        for slice_index, chunk in enumerate(slices):
            shift = slice_index % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                runners[name](chunk)
                totals[name] += time.perf_counter() - start
        rounds.append(totals)
    medians = {name: statistics.median(r[name] for r in rounds) for name in names}
    ratios = {name: statistics.median(r[names[0]] / r[name] for r in rounds) for name in names}
    return medians, ratios


def bench_chinese(data: Path, repeats: int) -> dict:
    path = data / "chnsenticorp_htl" / "ChnSentiCorp_htl_all.csv"
    reviews = [text for text, _ in read_labeled(path)]
    chinese, auto = get_tokenizer("chinese"), get_tokenizer("auto")
    medians, ratios = sliced_medians(
        {
            "jieba.lcut": lambda chunk: [jieba.lcut(review) for review in chunk],
            "rnnkit chinese": lambda chunk: [chinese.tokenize(review) for review in chunk],
            "rnnkit auto": lambda chunk: [auto.tokenize(review) for review in chunk],
        },
        reviews,
        repeats,
    )
    megabytes = sum(len(review.encode("utf-8")) for review in reviews) / 1e6
    return {
        "file": path,
        "megabytes": megabytes,
        "seconds": medians,
        "ratio_chinese": ratios["rnnkit chinese"],
        "ratio_auto": ratios["rnnkit auto"],
    }


def peak_rss(code: str, *args: str) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of ``python -c code args`` in a fresh child process.

    The child reports its own VmHWM: the rusage of a child (``os.wait4``, RUSAGE_CHILDREN) also
    counts the parent's RSS at the fork, which here is larger than what is measured.
    """
    report_peak = "\nprint(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
    start = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", code + report_peak, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    kilobytes = int(child.stdout.split()[-2])  # "VmHWM:   123456 kB"
    return kilobytes / 1024, seconds


def bench_prepare(data: Path) -> list[dict]:
    """The imports alone, then ``prepare`` on PTB train ×1 and ×4."""
    rss, seconds = peak_rss("import rnnkit.data")
    rows = [
        {
            "name": "`import rnnkit.data` alone",
            "megabytes": 0.0,
            "tokens": 0,
            "rss_mib": rss,
            "seconds": seconds,
        }
    ]
    source = data / "ptb" / "ptb.train.txt"
    with tempfile.TemporaryDirectory() as temporary:
        for copies in (1, 4):
            corpus = Path(temporary) / f"ptb_x{copies}.txt"
            corpus.write_bytes(source.read_bytes() * copies)
            out_dir = Path(temporary) / f"out_x{copies}"
            rss, seconds = peak_rss(PREPARE_CHILD, str(corpus), str(out_dir))
            rows.append(
                {
                    "name": f"PTB train ×{copies}",
                    "megabytes": corpus.stat().st_size / 1e6,
                    "tokens": (out_dir / "tokens.bin").stat().st_size // 2,  # uint16 ids
                    "rss_mib": rss,
                    "seconds": seconds,
                }
            )
    return rows


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def table(header: list[str], align: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(align) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def report(
    english: dict, chinese: dict, prepare_rows: list[dict], command: str, machine: str
) -> str:
    verdict = {True: "met", False: "**missed**"}
    seconds = chinese["seconds"]
    rss_1x, rss_4x = prepare_rows[1]["rss_mib"], prepare_rows[2]["rss_mib"]
    summary = [
        [
            f"English word tokenize + vocab + encode, PTB train ({english['megabytes']:.2f} MB)",
            f"{english['mbps_cpu']:.2f} MB/s of CPU time ({english['cpu']:.3f} s); wall clock "
            + f"{english['mbps_wall']:.2f} MB/s ({english['wall']:.3f} s)",
            f"≥ {TARGET_ENGLISH_MBPS} MB/s",
            verdict[english["mbps_cpu"] >= TARGET_ENGLISH_MBPS],
        ],
        [
            f"`chinese` tokenizer vs `jieba.lcut`, ChnSentiCorp ({chinese['megabytes']:.2f} MB)",
            f"{chinese['ratio_chinese']:.3f}× ({seconds['rnnkit chinese']:.3f} s vs "
            + f"{seconds['jieba.lcut']:.3f} s)",
            f"≥ {TARGET_CHINESE_RATIO}×",
            verdict[chinese["ratio_chinese"] >= TARGET_CHINESE_RATIO],
        ],
        [
            "`auto` tokenizer vs `jieba.lcut` (for reference)",
            f"{chinese['ratio_auto']:.3f}× ({seconds['rnnkit auto']:.3f} s)",
            "—",
            "",
        ],
        [
            "`prepare` peak RSS, PTB train ×1 vs ×4",
            f"{rss_1x:.1f} MiB vs {rss_4x:.1f} MiB",
            "independent of size",
            verdict[rss_4x <= rss_1x * 1.1],
        ],
    ]
    runs = [
        [
            row["name"],
            f"{row['megabytes']:.1f}",
            f"{row['tokens']:,}",
            f"{row['rss_mib']:.1f}",
            f"{row['seconds']:.2f}",
        ]
        for row in prepare_rows
    ]
    lines = [
        "# Text pipeline benchmark",
        "",
        f"Command: `{command}`, pinned to one CPU core with `torch.set_num_threads(1)`; medians of "
        + "interleaved repeats after one warm-up (Chinese: interleaved per slice of 100 reviews, "
        + "ratio = median over rounds of jieba's time / ours). The machine is shared with other "
        + "work, so the English target is judged on the CPU time of the benchmark process (what "
        + "one core of its own would give); the wall-clock figure beside it includes waiting for "
        + "a core.",
        "",
        *table(["benchmark", "measured", "target", ""], ["---", "---:", "---:", "---"], summary),
        "",
        "`prepare` (word tokenizer, a fresh process each; peak RSS is the child's own VmHWM, "
        + "which includes importing torch through `rnnkit.data`, shown alone in the first row). "
        + "Beyond the imports, memory is the token counter (it grows with distinct tokens, not "
        + "with the corpus) and the encode chunk of at most 2^20 ids.",
        "",
        *table(
            ["corpus", "MB", "tokens", "peak RSS (MiB)", "wall (s)"],
            ["---", "---:", "---:", "---:", "---:"],
            runs,
        ),
        "",
        machine,
        "",
    ]
    return "\n".join(lines)


def describe_machine() -> str:
    return (
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}. "
        f"Machine: `nproc` = {len(os.sched_getaffinity(0))}, {cpu_model()} (shared with other "
        f"work: load average {os.getloadavg()[0]:.2f} when the run began). "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"jieba {jieba.__version__}, numpy {numpy.__version__}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per runner")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results table (markdown)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"--data {args.data} is not a directory; it needs ptb/ and chnsenticorp_htl/")
    command = shlex.join(["python", "benchmarks/bench_text.py", *(argv or sys.argv[1:])])
    machine = describe_machine()  # before pinning, so that nproc counts the machine's cores
    pin_to_one_core()
    english = bench_english(args.data, args.repeats)
    print(
        f"english: {english['mbps_cpu']:.2f} MB/s of CPU time ({english['cpu']:.3f} s), "
        f"wall clock {english['mbps_wall']:.2f} MB/s ({english['wall']:.3f} s)",
        flush=True,
    )
    chinese = bench_chinese(args.data, args.repeats)
    print(
        f"chinese: {chinese['ratio_chinese']:.3f}x jieba.lcut, auto {chinese['ratio_auto']:.3f}x, "
        f"medians {chinese['seconds']}",
        flush=True,
    )
    prepare_rows = bench_prepare(args.data)
    for row in prepare_rows:
        print(f"{row['name']}: peak RSS {row['rss_mib']:.1f} MiB, {row['seconds']:.2f} s")
    text = report(english, chinese, prepare_rows, command, machine)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

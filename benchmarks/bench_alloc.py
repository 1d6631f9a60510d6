"""What a fresh buffer costs against refilling one that exists: the page-fault figures quoted in
``rnnkit/nn/kernels/bptt_common.py`` (``gate_buffer``) and ``benchmarks/RESULTS.md``.

For each size, one thread, float32, alternating the two ways in each round, medians of the
rounds, ms: ``torch.empty(n).fill_(1)`` (a new allocation, written once) against
``buffer.fill_(1)`` on a buffer allocated before the rounds. Above glibc's mmap threshold (at
most 32 MB by default) every new allocation is fresh pages from the kernel, and each page
faults on its first write; below it, freed memory is usually reused.

    python benchmarks/bench_alloc.py [--rounds 41] [--megabytes 0.8 3.3 13 39 52]
"""

from __future__ import annotations

import argparse

import torch
from timing import interleaved_medians

SIZES_MB = [0.8, 3.3, 13.0, 26.0, 39.0, 52.0]


def measure(megabytes: float, rounds: int) -> dict[str, float]:
    """Milliseconds for a fresh buffer and for refilling an existing one of that size."""
    count = int(megabytes * 1e6 / 4)  # float32 elements
    existing = torch.empty(count)
    seconds = interleaved_medians({
        "fresh": lambda: torch.empty(count).fill_(1.0),
        "refill": lambda: existing.fill_(1.0),
    }, rounds)
    return {name: value * 1000 for name, value in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--megabytes", type=float, nargs="+", default=SIZES_MB)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| MB | fresh ms | refill ms | fresh / refill |")
    print("|---:|---:|---:|---:|")
    for megabytes in args.megabytes:
        ms = measure(megabytes, args.rounds)
        print(f"| {megabytes:g} | {ms['fresh']:.3f} | {ms['refill']:.3f} | "
              f"{ms['fresh'] / ms['refill']:.1f} |")


if __name__ == "__main__":
    main()

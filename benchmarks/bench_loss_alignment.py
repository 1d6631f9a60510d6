"""The fused decoder + loss with its logits rows contiguous against rows padded to
``ROW_ALIGNMENT`` (issue 25): PTB's 10,002-word vocabulary makes a contiguous float32 row
40,008 bytes, not a multiple of 64.

    python benchmarks/bench_loss_alignment.py --threads 1 2 1 2

Forward and backward of ``linear_cross_entropy`` (N=700, H=200, V=10,002), the two layouts
alternating in one process, medians of ``--rounds``; figures in RESULTS, "Whole run against
word_language_model".
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rnnkit.models import losses


def measure(threads: int, rounds: int, rows: int, features: int, vocab: int) -> dict[int, float]:
    """Median seconds of one forward + backward per alignment (1 = contiguous rows)."""
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(rows, features, generator=generator, requires_grad=True)
    weight = (torch.randn(vocab, features, generator=generator) * 0.1).requires_grad_()
    bias = torch.zeros(vocab, requires_grad=True)
    targets = torch.randint(0, vocab, (rows,), generator=generator)
    kept = losses.ROW_ALIGNMENT
    times: dict[int, list[float]] = {1: [], kept: []}
    try:
        for round_ in range(rounds + 3):
            for alignment in (1, kept) if round_ % 2 else (kept, 1):
                losses.ROW_ALIGNMENT = alignment
                start = time.perf_counter()
                losses.linear_cross_entropy(hidden, weight, bias, targets).backward()
                if round_ >= 3:  # the first three are warm-up
                    times[alignment].append(time.perf_counter() - start)
    finally:
        losses.ROW_ALIGNMENT = kept
    return {alignment: statistics.median(values) for alignment, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--vocab", type=int, default=10_002)
    args = parser.parse_args()
    for threads in args.threads:
        medians = measure(threads, args.rounds, 700, 200, args.vocab)
        contiguous, padded = medians[1], medians[losses.ROW_ALIGNMENT]
        print(f"threads {threads}: contiguous rows {contiguous * 1e3:.1f} ms, rows padded to "
              f"{losses.ROW_ALIGNMENT} {padded * 1e3:.1f} ms, ratio {padded / contiguous:.2f}")


if __name__ == "__main__":
    main()

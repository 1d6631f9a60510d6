"""Inverted dropout on CPU: torch's ``F.dropout`` (a ``bernoulli_`` mask) against a mask drawn
as ``uniform [0, 1) >= p`` (``rnnkit.nn.noise.dropout``), forward and backward.

The shape is the language-model recipe's, ``(B, T, E) = (20, 35, 200)`` by default (the
embedding and the LSTM output are dropped alike). The ways alternate in each round
(``timing.interleaved_medians``); each figure is the median over the rounds, µs per call,
with the ratio to torch's in the same run. ``mask`` times the mask draw alone.

    python benchmarks/bench_dropout.py [--threads 1 2] [--rounds 41] [--shape 20 35 200]
"""

from __future__ import annotations

import argparse
import platform

import torch
import torch.nn.functional as F
from timing import interleaved_medians

from rnnkit.nn.noise import dropout


def _runs(shape: tuple[int, ...], p: float) -> dict[str, object]:
    x = torch.randn(shape, requires_grad=True)
    grad = torch.randn(shape)

    def step(function):
        def run():
            function(x, p, True).backward(grad)
        return run

    return {
        "torch F.dropout, fwd+bwd": step(F.dropout),
        "rnnkit dropout, fwd+bwd": step(dropout),
        "bernoulli_ mask": lambda: torch.empty(shape).bernoulli_(1 - p),
        "uniform >= p mask": lambda: torch.rand(shape).ge_(p),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--calls", type=int, default=20, help="calls per way and round")
    parser.add_argument("--shape", type=int, nargs="+", default=[20, 35, 200])
    parser.add_argument("--p", type=float, default=0.2)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"shape {tuple(args.shape)}, p {args.p}, {args.rounds} rounds × {args.calls} calls")
    print("| threads | way | µs per call | / torch's |")
    print("|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        medians = interleaved_medians(_runs(tuple(args.shape), args.p), args.rounds, args.calls)
        pairs = {"rnnkit dropout, fwd+bwd": "torch F.dropout, fwd+bwd",
                 "uniform >= p mask": "bernoulli_ mask"}
        for name, seconds in medians.items():
            base = medians[pairs.get(name, name)]
            print(f"| {threads} | {name} | {seconds * 1e6:.0f} | {seconds / base:.2f} |")


if __name__ == "__main__":
    main()

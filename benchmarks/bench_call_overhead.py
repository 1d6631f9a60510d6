"""Per-call overhead of rnnkit's layer against torch.nn's on a tiny input.

A 2-layer LSTM with 8 units on a (2, 3, 8) batch: the op itself takes microseconds, so the
difference between the two is the Python each layer runs around torch's fused op. Rounds
alternate between them; each figure is the median of the rounds' mean µs per call.

    python benchmarks/bench_call_overhead.py [--rounds 30] [--calls 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnkit.nn as rn


def _per_call(run, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=200, help="calls per round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    reference = torch.nn.LSTM(8, 8, num_layers=2, batch_first=True)
    ours = rn.LSTM(8, 8, num_layers=2, batch_first=True)
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 8, requires_grad=True)

    def train(layer):
        layer(x)[0].sum().backward()

    def infer(layer):
        with torch.no_grad():
            layer(x)

    print("| mode | torch.nn µs | rnnkit µs | difference µs |\n|---|---:|---:|---:|")
    for mode, step in (("forward + backward", train), ("inference", infer)):
        times = {"torch.nn": [], "rnnkit": []}
        for round_index in range(args.rounds):
            order = [("torch.nn", reference), ("rnnkit", ours)]
            for name, layer in order if round_index % 2 else order[::-1]:
                times[name].append(_per_call(lambda layer=layer, step=step: step(layer),
                                             args.calls))
        base, mine = (statistics.median(times[name]) for name in ("torch.nn", "rnnkit"))
        print(f"| {mode} | {base:.1f} | {mine:.1f} | {mine - base:+.1f} |")


if __name__ == "__main__":
    main()

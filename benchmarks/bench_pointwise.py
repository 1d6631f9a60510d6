"""The measurements behind the bptt kernel's ``tanh = 2σ(2x) - 1`` rule on CPU
(``rnnkit/nn/kernels/bptt.py``, ``TANH_BY_SIGMOID_MIN``).

Two tables, one thread, float32, the ways alternating in each round, medians of the rounds:

- one ``(B, H)`` activation: ``torch.tanh`` against the three ops of ``_tanh_into``, µs;
- the bptt LSTM's forward loop (``_lstm_forward``, training mode, T = 50) with the rule off and
  on, ms.

    python benchmarks/bench_pointwise.py [--rounds 41]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnkit.nn as rn
from rnnkit.nn.kernels import bptt

SIZES = [(1, 128), (8, 128), (16, 128), (32, 128), (128, 128), (1, 512), (32, 512), (128, 512)]
LOOP_SIZES = [(32, 128), (128, 128), (32, 512)]
NEVER = 1 << 62


def _median_ms(runs: dict, rounds: int, calls: int) -> dict[str, float]:
    names = list(runs)
    times = {name: [] for name in names}
    for run in runs.values():
        run()
    for index in range(rounds):
        for name in names[index % len(names):] + names[:index % len(names)]:
            started = time.perf_counter()
            for _ in range(calls):
                runs[name]()
            times[name].append((time.perf_counter() - started) * 1000 / calls)
    return {name: statistics.median(values) for name, values in times.items()}


def _activation_row(batch: int, hidden: int, rounds: int) -> dict[str, float]:
    x = torch.randn(batch, hidden)
    out = torch.empty_like(x)

    def through_sigmoid():
        bptt.TANH_BY_SIGMOID_MIN = 1
        bptt._tanh_into(x, out)

    return _median_ms({"tanh": lambda: torch.tanh(x, out=out), "sigmoid": through_sigmoid},
                      rounds, calls=500)


def _loop_row(batch: int, hidden: int, rounds: int, steps: int = 50) -> dict[str, float]:
    cell = rn.LSTM(hidden, hidden).config.cell
    plan = bptt._Plan(cell=cell, recurrent_mask=None, keep_h=None, keep_c=None, running=None,
                      save=True)
    x_proj = torch.randn(steps, batch, 4 * hidden)  # (T, B, 4H)
    h_0, c_0 = torch.zeros(batch, hidden), torch.zeros(batch, hidden)
    w_hh = 0.1 * torch.randn(4 * hidden, hidden)

    def loop(threshold):
        def run():
            bptt.TANH_BY_SIGMOID_MIN = threshold
            bptt._lstm_forward(plan, x_proj, h_0, c_0, w_hh, *[None] * 7)
        return run

    return _median_ms({"off": loop(NEVER), "on": loop(bptt.TANH_BY_SIGMOID_MIN)}, rounds,
                      calls=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()
    torch.set_num_threads(1)
    default = bptt.TANH_BY_SIGMOID_MIN
    print(f"torch {torch.__version__}, 1 thread, medians of {args.rounds} rounds; "
          f"TANH_BY_SIGMOID_MIN = {default}")
    print("\n| B × H | torch.tanh µs | 2σ(2x) - 1 µs |\n|---|---:|---:|")
    for batch, hidden in SIZES:
        row = _activation_row(batch, hidden, args.rounds)
        print(f"| {batch} × {hidden} | {row['tanh'] * 1000:.1f} | {row['sigmoid'] * 1000:.1f} |")
    bptt.TANH_BY_SIGMOID_MIN = default
    print("\n| LSTM forward loop, B × H, T = 50 | rule off ms | rule on ms |\n|---|---:|---:|")
    for batch, hidden in LOOP_SIZES:
        row = _loop_row(batch, hidden, args.rounds)
        print(f"| {batch} × {hidden} | {row['off']:.2f} | {row['on']:.2f} |")
    bptt.TANH_BY_SIGMOID_MIN = default


if __name__ == "__main__":
    main()

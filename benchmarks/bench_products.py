"""The measurements behind ``rnnkit/nn/kernels/dispatch.py``'s packing rules.

Two tables, one thread, float32, alternating the two ways in each round, medians of the rounds:

- repeated products ``a (rows, K) · Wᵀ + addend`` against one weight (the bptt kernel's steps):
  ``torch.addmm`` against oneDNN's product with a weight packed once (packing excluded), µs;
- single products ``x (rows, K) · Wᵀ`` (the input projection): ``F.linear`` against packing
  the weight and multiplying once (packing included), ms.

Plus, with ``--layers``, the bptt LSTM (train step) with packing on and off, against
torch.nn.LSTM in the same rounds.

    python benchmarks/bench_products.py [--rounds 15] [--layers]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from timing import interleaved_medians

import rnnkit.nn as rn
from rnnkit.nn.kernels import dispatch

REPEATED = [(rows, k, n) for rows in (1, 4, 8, 16, 32, 128)
            for k, n in ((128, 512), (512, 512), (512, 2048), (2048, 512))]
SINGLE = [(rows, k, n) for rows in (128, 1024, 1600, 4096, 6400)
          for k, n in ((128, 512), (512, 128), (512, 2048))]
LAYER_SIZES = [(8, 100, 512), (32, 200, 128), (32, 200, 512)]


def _repeated_row(rows: int, k: int, n: int, rounds: int) -> dict[str, float]:
    a, weight, addend = torch.randn(rows, k), torch.randn(n, k), torch.randn(rows, n)
    out = torch.empty(rows, n)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, rows)
    return interleaved_medians({
        "addmm": lambda: torch.addmm(addend, a, weight.t(), out=out),
        "packed": lambda: out.copy_(torch.ops.mkldnn._linear_pointwise.binary(
            a, addend, packed, None, "add")),
    }, rounds, calls=max(5, 20_000 // max(rows * k * n // 100_000, 1)))


def _single_row(rows: int, k: int, n: int, rounds: int) -> dict[str, float]:
    x, weight = torch.randn(rows, k), torch.randn(n, k)
    return interleaved_medians({
        "linear": lambda: F.linear(x, weight),
        "packed": lambda: torch.ops.mkldnn._linear_pointwise(
            x, torch.ops.mkldnn._reorder_linear_weight(weight, rows), None, "none", [], ""),
    }, rounds, calls=3)


def _layer_row(batch: int, steps: int, hidden: int, rounds: int) -> dict[str, float]:
    torch.manual_seed(0)
    ours, reference = rn.LSTM(hidden, hidden, impl="bptt"), torch.nn.LSTM(hidden, hidden)
    x = torch.randn(steps, batch, hidden, requires_grad=True)

    def step(layer, packing: bool) -> None:
        dispatch.PACKING_AVAILABLE = packing
        layer(x)[0].sum().backward()

    try:
        return interleaved_medians({
            "torch": lambda: step(reference, True),
            "off": lambda: step(ours, False),
            "on": lambda: step(ours, True),
        }, rounds, calls=1)
    finally:
        dispatch.PACKING_AVAILABLE = dispatch._packing_available()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--layers", action="store_true", help="also the LSTM A/B table")
    args = parser.parse_args()
    if not dispatch.PACKING_AVAILABLE:
        raise SystemExit("bench_products: this torch has no oneDNN packed products")
    torch.set_num_threads(1)
    print("repeated products, µs: rows, K -> N, addmm, packed")
    for rows, k, n in REPEATED:
        result = _repeated_row(rows, k, n, args.rounds)
        print(f"{rows:>6} {k:>5} -> {n:<5} {result['addmm'] * 1e6:9.1f} "
              f"{result['packed'] * 1e6:9.1f}")
    print("single products, ms: rows, K -> N, linear, pack + product")
    for rows, k, n in SINGLE:
        result = _single_row(rows, k, n, args.rounds)
        print(f"{rows:>6} {k:>5} -> {n:<5} {result['linear'] * 1e3:9.2f} "
              f"{result['packed'] * 1e3:9.2f}")
    if args.layers:
        print("bptt LSTM train step / torch.nn.LSTM: B, T, H, packing off, packing on")
        for batch, steps, hidden in LAYER_SIZES:
            result = _layer_row(batch, steps, hidden, args.rounds)
            print(f"{batch:>4} {steps:>4} {hidden:>4} {result['off'] / result['torch']:6.2f} "
                  f"{result['on'] / result['torch']:6.2f}")


if __name__ == "__main__":
    main()

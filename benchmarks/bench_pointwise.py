"""The measurements behind two pointwise choices of the bptt kernel on CPU
(``rnnkit/nn/kernels/bptt_common.py``): ``tanh = 2σ(2x) - 1`` (``dispatch.TANH_BY_SIGMOID_MIN``)
and the hard sigmoids' derivative factors through ``hardtanh_backward`` (``BACKWARD_OPS``).

Three tables, one thread, float32, the ways alternating in each round, medians of the rounds:

- one ``(B, H)`` activation: ``torch.tanh`` against the three ops of ``tanh_into``, µs;
- the bptt LSTM's forward loop (``bptt_lstm.forward_pass``, training mode, T = 50) with the rule off and
  on, ms;
- a train step of the flexible LSTM (hard_sigmoid, layer norm, recurrent dropout; T = 50) with
  the hard sigmoid's factor ``factor ⊙ grad_from_output(y)`` (off) against
  ``hardtanh_backward`` (on), as a ratio to torch.nn.LSTM's step in the same rounds.

    python benchmarks/bench_pointwise.py [--rounds 41]
"""

from __future__ import annotations

import argparse

import torch
from timing import interleaved_medians

import rnnkit.nn as rn
from rnnkit.nn.kernels import bptt_common, bptt_lstm, dispatch

SIZES = [(1, 128), (8, 128), (16, 128), (32, 128), (128, 128), (1, 512), (32, 512), (128, 512)]
LOOP_SIZES = [(32, 128), (128, 128), (32, 512)]
NEVER = 1 << 62


def _median_ms(runs: dict, rounds: int, calls: int) -> dict[str, float]:
    return {name: seconds * 1000 for name, seconds in
            interleaved_medians(runs, rounds, calls).items()}


def _activation_row(batch: int, hidden: int, rounds: int) -> dict[str, float]:
    x = torch.randn(batch, hidden)
    out = torch.empty_like(x)

    def through_sigmoid():
        dispatch.TANH_BY_SIGMOID_MIN = 1
        bptt_common.tanh_into(x, out)

    return _median_ms({"tanh": lambda: torch.tanh(x, out=out), "sigmoid": through_sigmoid},
                      rounds, calls=500)


def _loop_row(batch: int, hidden: int, rounds: int, steps: int = 50) -> dict[str, float]:
    cell = rn.LSTM(hidden, hidden).config.cell
    plan = bptt_common.Plan(cell=cell, recurrent_mask=None, keep_h=None, keep_c=None,
                            running=None, save=True)
    x_proj = torch.randn(steps, batch, 4 * hidden)  # (T, B, 4H)
    h_0, c_0 = torch.zeros(batch, hidden), torch.zeros(batch, hidden)
    w_hh = 0.1 * torch.randn(4 * hidden, hidden)

    def loop(threshold):
        def run():
            dispatch.TANH_BY_SIGMOID_MIN = threshold
            bptt_lstm.forward_pass(plan, x_proj, h_0, c_0,
                                   bptt_lstm.LSTMWeights(w_hh, *[None] * 7))
        return run

    return _median_ms({"off": loop(NEVER), "on": loop(dispatch.TANH_BY_SIGMOID_MIN)}, rounds,
                      calls=1)


def _flexible_row(batch: int, hidden: int, rounds: int, steps: int = 50) -> dict[str, float]:
    flexible = rn.LSTM(hidden, hidden, impl="bptt", recurrent_activation="hard_sigmoid",
                       layer_norm=True, recurrent_dropout=0.25)
    standard = torch.nn.LSTM(hidden, hidden)
    x = torch.randn(steps, batch, hidden, requires_grad=True)  # (T, B, H)
    with_ops = dict(bptt_common.BACKWARD_OPS)
    without = {name: entry for name, entry in with_ops.items()
               if not name.startswith("hard_sigmoid")}  # factor ⊙ grad_from_output(y)

    def train(module, backward_ops=None):
        def run():
            if backward_ops is not None:
                bptt_common.BACKWARD_OPS = backward_ops
            for parameter in module.parameters():
                parameter.grad = None
            module(x)[0].sum().backward()
        return run

    row = _median_ms({"torch.nn": train(standard), "off": train(flexible, without),
                      "on": train(flexible, with_ops)}, rounds, calls=1)
    bptt_common.BACKWARD_OPS = with_ops
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()
    torch.set_num_threads(1)
    default = dispatch.TANH_BY_SIGMOID_MIN
    print(f"torch {torch.__version__}, 1 thread, medians of {args.rounds} rounds; "
          f"TANH_BY_SIGMOID_MIN = {default}")
    print("\n| B × H | torch.tanh µs | 2σ(2x) - 1 µs |\n|---|---:|---:|")
    for batch, hidden in SIZES:
        row = _activation_row(batch, hidden, args.rounds)
        print(f"| {batch} × {hidden} | {row['tanh'] * 1000:.1f} | {row['sigmoid'] * 1000:.1f} |")
    dispatch.TANH_BY_SIGMOID_MIN = default
    print("\n| LSTM forward loop, B × H, T = 50 | rule off ms | rule on ms |\n|---|---:|---:|")
    for batch, hidden in LOOP_SIZES:
        row = _loop_row(batch, hidden, args.rounds)
        print(f"| {batch} × {hidden} | {row['off']:.2f} | {row['on']:.2f} |")
    dispatch.TANH_BY_SIGMOID_MIN = default
    print("\n| flexible LSTM train, B × H, T = 50 | torch.nn.LSTM ms | off / torch.nn "
          "| on / torch.nn |\n|---|---:|---:|---:|")
    for batch, hidden in LOOP_SIZES:
        row = _flexible_row(batch, hidden, args.rounds)
        base = row["torch.nn"]
        print(f"| {batch} × {hidden} | {base:.1f} | {row['off'] / base:.2f} | "
              f"{row['on'] / base:.2f} |")


if __name__ == "__main__":
    main()

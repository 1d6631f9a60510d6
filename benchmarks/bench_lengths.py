"""Recurrent inference on sequences of different lengths: rnnkit's layers called with
``lengths=`` against torch.nn's on a packed batch (``pack_padded_sequence``, then
``pad_packed_sequence``: the same zero-padded ``(T, B, H)`` output). The figures behind
``dispatch.fused_inference``'s rule for variable lengths.

Runners: ``torch.nn``; rnnkit ``native`` (torch's packed loop inside), ``bptt`` (its compiled
loops where ``dispatch.compiled_loops_serve`` says so, else its Python loop) and ``auto``. Lengths are
drawn once per configuration, uniformly from ``T/2 … T`` with one sequence of full length
(a wider spread is not measured here).
Input size = hidden size, one layer, one direction, float32, CPU. Median seconds per call over
interleaved rounds (``timing.interleaved_medians``), printed as ratios to torch.nn's.

    python benchmarks/bench_lengths.py --cells rnn gru --batch 1 2 4 8 --hidden 128 512 \\
        --threads 1
"""

from __future__ import annotations

import argparse
import os
import platform

import torch
from timing import interleaved_medians
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.nn import GRU, LSTM, RNN

TORCH_LAYERS = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
OUR_LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
IMPLS = ("native", "bptt", "auto")


def draw_lengths(batch: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    """``(B,)`` lengths in ``steps/2 … steps``, the first one ``steps``."""
    lengths = torch.randint(steps // 2, steps + 1, (batch,), generator=generator)
    lengths[0] = steps
    return lengths


def runners(cell: str, batch: int, steps: int, hidden: int, lengths: torch.Tensor) -> dict:
    """Named no-argument calls, each one inference pass over the same ``(T, B, H)`` input."""
    x = torch.randn(steps, batch, hidden)
    reference = TORCH_LAYERS[cell](hidden, hidden).eval()

    def torch_packed():
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        return pad_packed_sequence(reference(packed)[0], total_length=steps)[0]

    runs = {"torch.nn": torch_packed}
    for impl in IMPLS:
        layer = OUR_LAYERS[cell](hidden, hidden, impl=impl).eval()
        layer.load_state_dict(reference.state_dict())
        runs[impl] = lambda layer=layer: layer(x, lengths=lengths)[0]
    with torch.no_grad():
        expected = torch_packed()
        for name in IMPLS:
            torch.testing.assert_close(runs[name](), expected, atol=1e-4, rtol=1e-4)
    return runs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", choices=sorted(OUR_LAYERS), default=["rnn", "gru"])
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--steps", nargs="+", type=int, default=[50])
    parser.add_argument("--hidden", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # inputs and weights
    generator = torch.Generator().manual_seed(0)  # lengths
    print(f"torch {torch.__version__}, {platform.machine()} ({os.cpu_count()} cores), "
          f"{torch.get_num_threads()} thread(s)\n")
    print("| cell | B | T | H | torch.nn ms | " + " | ".join(IMPLS) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(IMPLS))
    for cell in args.cells:
        for batch in args.batch:
            for steps in args.steps:
                for hidden in args.hidden:
                    lengths = draw_lengths(batch, steps, generator)
                    runs = runners(cell, batch, steps, hidden, lengths)
                    with torch.no_grad():
                        medians = interleaved_medians(runs, args.rounds)
                    base = medians["torch.nn"]
                    ratios = " | ".join(f"{medians[name] / base:.2f}" for name in IMPLS)
                    print(f"| {cell} | {batch} | {steps} | {hidden} | {base * 1e3:.3f} | "
                          f"{ratios} |", flush=True)


if __name__ == "__main__":
    main()

"""Would a compiled time loop make the bptt kernel's small steps cheaper? The vanilla RNN's
forward and backward loops at batch 1, written once with torch ops from Python (as the bptt
kernel does) and once in C++ against ATen, interleaved in each round (compiled here with
``torch.utils.cpp_extension.load_inline``: needs a C++ compiler and ninja; about 30 s the first
time, cached in ``TORCH_EXTENSIONS_DIR``).

Both run the same ops per step: forward ``h_t = tanh(x_t + h_{t-1} W_hhᵀ)`` (``addmm`` into
``h_all[t+1]``, ``tanh_``), backward ``d_t ⊙= dh; dh = d_trace_{t-1} + d_t W_hh`` (``mul_``,
``addmm``; each backward call first refills ``d_pre`` from the same coefficients, so the values
stay put from call to call). One thread, float32, medians of the rounds, µs per step. Not part
of the toolkit.

    python benchmarks/bench_cpp_loop.py [--rounds 100]
"""

from __future__ import annotations

import argparse
import time

import torch
from timing import interleaved_medians
from torch.utils.cpp_extension import load_inline

SOURCE = r"""
#include <torch/extension.h>

torch::Tensor rnn_forward(torch::Tensor x_proj, torch::Tensor h_all, torch::Tensor w_t) {
  for (int64_t t = 0; t < x_proj.size(0); ++t) {
    auto out = h_all[t + 1];
    at::addmm_out(out, x_proj[t], h_all[t], w_t);
    out.tanh_();
  }
  return h_all;
}

torch::Tensor rnn_backward(torch::Tensor d_pre, torch::Tensor d_trace, torch::Tensor w,
                           torch::Tensor dh) {
  for (int64_t t = d_pre.size(0) - 1; t >= 0; --t) {
    auto step = d_pre[t];
    step.mul_(dh);
    at::addmm_out(dh, d_trace[t], step, w);
  }
  return dh;
}
"""
SIZES = [(50, 128), (200, 128), (50, 512), (200, 512)]


def measure(compiled, steps: int, hidden: int, rounds: int) -> list[float]:
    """µs per step: forward in Python, in C++; backward in Python, in C++."""
    weight = torch.randn(hidden, hidden) * 0.05
    weight_t = weight.t()  # (H, H) view, made once as the kernel does
    x_proj, h_all = torch.randn(steps, 1, hidden), torch.zeros(steps + 1, 1, hidden)
    coefficients, d_trace = torch.rand(steps, 1, hidden), torch.randn(steps + 1, 1, hidden)
    d_pre, dh = torch.empty_like(coefficients), torch.zeros(1, hidden)

    def python_forward():
        hs, xs = h_all.unbind(0), x_proj.unbind(0)
        for t in range(steps):
            torch.addmm(xs[t], hs[t], weight_t, out=hs[t + 1]).tanh_()

    def python_backward():
        ds = d_pre.copy_(coefficients).unbind(0)
        for t in range(steps - 1, -1, -1):
            ds[t].mul_(dh)
            torch.addmm(d_trace[t], ds[t], weight, out=dh)

    seconds = interleaved_medians({
        "forward Python": python_forward,
        "forward C++": lambda: compiled.rnn_forward(x_proj, h_all, weight_t),
        "backward Python": python_backward,
        "backward C++": lambda: compiled.rnn_backward(d_pre.copy_(coefficients), d_trace,
                                                      weight, dh),
    }, rounds)
    return [value * 1e6 / steps for value in seconds.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    compiled = load_inline("rnnkit_bench_cpp_loop", cpp_sources=SOURCE,
                           functions=["rnn_forward", "rnn_backward"], extra_cflags=["-O3"])
    print(f"compiled (or loaded) in {time.perf_counter() - started:.1f} s")
    print("| T | H | forward Python | forward C++ | backward Python | backward C++ |")
    print("|---:|---:|---:|---:|---:|---:|")
    for steps, hidden in SIZES:
        figures = measure(compiled, steps, hidden, args.rounds)
        print(f"| {steps} | {hidden} | " + " | ".join(f"{value:.2f}" for value in figures) + " |")


if __name__ == "__main__":
    main()

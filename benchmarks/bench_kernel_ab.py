"""A/B of the bptt kernel: the version at a git revision against the working tree's, in one
process, interleaved, with torch.nn's layer as the yardstick.

The revision's bptt kernel (``rnnkit/nn/kernels/bptt.py`` and its per-cell ``bptt_*.py``) is
loaded as a second set of modules and swapped in for each of its calls, so both versions share
everything else (layers, products, the weights and the input). Train steps (forward +
backward of ``output.sum()``), one thread, float32, input = hidden; prints milliseconds and ratios to torch.nn.

    python benchmarks/bench_kernel_ab.py --base HEAD~1 --cell gru --sizes 1,50,128 32,200,512
    python benchmarks/bench_kernel_ab.py --base HEAD~1 --cell lstm --flex --sizes 32,200,128

``--flex`` times bench_layers' flexible configuration (hard_sigmoid, layer norm, recurrent
dropout) instead of the standard one; torch.nn's standard layer stays the yardstick.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from bench_layers import FLEX
from timing import interleaved_medians

import rnnkit.nn as rn
from rnnkit.nn import layers

KERNELS = "src/rnnkit/nn/kernels"
LAYERS = {"lstm": (rn.LSTM, torch.nn.LSTM), "gru": (rn.GRU, torch.nn.GRU),
          "rnn": (rn.RNN, torch.nn.RNN)}


def _git(*arguments: str) -> str:
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(["git", "-C", str(root), *arguments], capture_output=True, text=True,
                          check=True).stdout


def load_revision(revision: str):
    """The bptt kernel as it was at ``revision`` (``bptt.py`` and its ``bptt_*.py`` modules,
    each renamed ``base_…`` and importing the others under those names), importable beside the
    current one; every other module is the working tree's."""
    names = [Path(path).stem for path in _git("ls-tree", "--name-only", f"{revision}:{KERNELS}")
             .split() if path.startswith("bptt") and path.endswith(".py")]
    # the shared module first, the kernel that imports the cells' modules last
    names.sort(key=lambda name: (name == "bptt", name != "bptt_common", name))
    folder, module = Path(tempfile.mkdtemp()), None
    for name in names:
        source = _git("show", f"{revision}:{KERNELS}/{name}.py").replace(
            "rnnkit.nn.kernels.bptt", "rnnkit.nn.kernels.base_bptt")
        path = folder / f"base_{name}.py"
        path.write_text(source, encoding="utf-8")
        qualified = f"rnnkit.nn.kernels.base_{name}"
        spec = importlib.util.spec_from_file_location(qualified, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module  # dataclasses look their module up while built
        spec.loader.exec_module(module)
    return module


def measure(cell: str, batch: int, steps: int, hidden: int, base, rounds: int,
            options: dict) -> dict:
    torch.manual_seed(0)
    ours, theirs = LAYERS[cell]
    layer, reference = ours(hidden, hidden, impl="bptt", **options), theirs(hidden, hidden)
    x = torch.randn(steps, batch, hidden, requires_grad=True)
    current = layers.bptt

    def step(module, kernel=None):
        def run():
            if kernel is not None:
                layers.bptt = kernel
            module(x)[0].sum().backward()
        return run

    seconds = interleaved_medians({"torch.nn": step(reference), "base": step(layer, base),
                                   "tree": step(layer, current)}, rounds)
    layers.bptt = current
    return {name: value * 1000 for name, value in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD", help="git revision of the 'base' kernel")
    parser.add_argument("--cell", choices=sorted(LAYERS), default="lstm")
    parser.add_argument("--sizes", nargs="+", default=["32,50,128"], metavar="B,T,H")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--flex", action="store_true",
                        help="the flexible configuration: " + ", ".join(
                            f"{name}={value}" for name, value in FLEX.items()))
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = load_revision(args.base)
    options = FLEX if args.flex else {}
    kind = "flexible " if args.flex else ""
    print(f"{kind}{args.cell}, train step, ms (ratio to torch.nn); base = {args.base}")
    for size in args.sizes:
        batch, steps, hidden = (int(part) for part in size.split(","))
        ms = measure(args.cell, batch, steps, hidden, base, args.rounds, options)
        reference = ms["torch.nn"]
        print(f"B={batch} T={steps} H={hidden}: torch.nn {reference:.2f} | base "
              f"{ms['base']:.2f} ({ms['base'] / reference:.2f}) | tree {ms['tree']:.2f} "
              f"({ms['tree'] / reference:.2f})")


if __name__ == "__main__":
    main()

"""The decoder and loss of the whole-run recipe (issue 25), rnnkit against the example's:
rnnkit's fused ``linear_cross_entropy`` over its PTB vocabulary (10,002 words, logits rows
padded to ``ROW_ALIGNMENT``) against word_language_model's ``nn.Linear`` + ``log_softmax`` +
``nll_loss`` over its 10,000 words, forward and backward of one step's 700 rows (bptt 35 ×
batch 20, hidden 200).

    python benchmarks/bench_decoder_loss.py [--threads 1 2] [--rounds 30] [--parts]

The two ways alternate in one process (``timing.interleaved_medians``); prints a markdown
table of median milliseconds per step at each thread count. ``--parts`` adds a table of the
pieces, rnnkit's vocabulary: the forward product with its bias three ways (``addmm(bias,
out=)`` into the padded rows, as the loss did; ``copy_`` of the bias then ``addmm_``, as it
does; ``F.linear``, as the example does), the backward's two products (with GFLOP/s: each is
2·N·H·V multiply-adds), and the softmax over the padded rows two ways (``amax``, ``sub_``,
``exp_``, ``sum`` as the loss did; ``torch.softmax(out=)`` in place, as it does). Figures in
RESULTS, "Whole run against word_language_model".
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F
from timing import interleaved_medians

from rnnkit.models import losses
from rnnkit.models.losses import linear_cross_entropy

ROWS, HIDDEN = 700, 200
VOCAB = {"rnnkit": 10_002, "example": 10_000}


def step(way: str, generator: torch.Generator):
    """One forward + backward of ``way``'s decoder and loss, as a closure."""
    vocab = VOCAB[way]
    hidden = torch.randn(ROWS, HIDDEN, generator=generator, requires_grad=True)
    weight = (torch.randn(vocab, HIDDEN, generator=generator) * 0.1).requires_grad_()
    bias = torch.zeros(vocab, requires_grad=True)
    targets = torch.randint(0, vocab, (ROWS,), generator=generator)

    if way == "rnnkit":
        return lambda: linear_cross_entropy(hidden, weight, bias, targets).backward()
    # word_language_model: decoder → log_softmax in the model, NLLLoss in main.py
    return lambda: F.nll_loss(F.log_softmax(F.linear(hidden, weight, bias), dim=1),
                              targets).backward()


def parts(generator: torch.Generator) -> dict[str, Callable[[], object]]:
    """The decoder's pieces at rnnkit's vocabulary, each as a closure (see the docstring)."""
    vocab = VOCAB["rnnkit"]
    hidden = torch.randn(ROWS, HIDDEN, generator=generator)
    weight = torch.randn(vocab, HIDDEN, generator=generator) * 0.1
    bias = torch.randn(vocab, generator=generator) * 0.1
    buffer = losses._aligned_buffer(ROWS, vocab, hidden)  # (N, V rounded up)
    logits = buffer[:, :vocab]
    rows = torch.randn(ROWS, buffer.shape[1], generator=generator)  # softmax input, pads -inf
    rows[:, vocab:] = float("-inf")

    def old_softmax():
        buffer.copy_(rows)
        peak = logits.amax(1, keepdim=True)
        return logits.sub_(peak).exp_().sum(1)

    def new_softmax():
        buffer.copy_(rows)
        return torch.softmax(buffer, 1, out=buffer)

    return {
        "forward: addmm(bias, out=)": lambda: torch.addmm(bias, hidden, weight.t(), out=logits),
        "forward: bias copy_ + addmm_": lambda: logits.copy_(bias.expand_as(logits)).addmm_(
            hidden, weight.t()),
        "forward: F.linear": lambda: F.linear(hidden, weight, bias),
        "backward: D W": lambda: logits.mm(weight),
        "backward: Dᵀ h": lambda: logits.t().mm(hidden),
        "copy of the softmax's input": lambda: buffer.copy_(rows),
        "softmax: amax, sub_, exp_, sum": old_softmax,
        "softmax: in place": new_softmax,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--parts", action="store_true", help="also time the decoder's pieces")
    args = parser.parse_args()
    lines = ["| threads | rnnkit ms | example ms | rnnkit / example |", "|---:|---:|---:|---:|"]
    for threads in args.threads:
        torch.set_num_threads(threads)
        generator = torch.Generator().manual_seed(0)
        runs = {way: step(way, generator) for way in VOCAB}
        medians = interleaved_medians(runs, args.rounds)
        lines.append(f"| {threads} | {medians['rnnkit'] * 1e3:.1f} | "
                     f"{medians['example'] * 1e3:.1f} | "
                     f"{medians['rnnkit'] / medians['example']:.2f} |")
    print("\n".join(lines))
    if args.parts:
        flops = 2 * ROWS * HIDDEN * VOCAB["rnnkit"]
        lines = ["", "| threads | piece | ms | GFLOP/s of a product |", "|---:|---|---:|---:|"]
        for threads in args.threads:
            torch.set_num_threads(threads)
            medians = interleaved_medians(parts(torch.Generator().manual_seed(0)), args.rounds)
            for name, seconds in medians.items():
                rate = f"{flops / seconds / 1e9:.0f}" if name.startswith(("forward", "backward")) \
                    else ""
                lines.append(f"| {threads} | {name} | {seconds * 1e3:.1f} | {rate} |")
        print("\n".join(lines))


if __name__ == "__main__":
    main()

"""The decoder and loss of the whole-run recipe (issue 25), rnnkit against the example's:
rnnkit's fused ``linear_cross_entropy`` over its PTB vocabulary (10,002 words, logits rows
padded to ``ROW_ALIGNMENT``) against word_language_model's ``nn.Linear`` + ``log_softmax`` +
``nll_loss`` over its 10,000 words, forward and backward of one step's 700 rows (bptt 35 ×
batch 20, hidden 200).

    python benchmarks/bench_decoder_loss.py [--threads 1 2] [--rounds 30]

The two ways alternate in one process (``timing.interleaved_medians``); prints a markdown
table of median milliseconds per step at each thread count. Figures in RESULTS, "Whole run
against word_language_model".
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from timing import interleaved_medians

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=30)
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


if __name__ == "__main__":
    main()

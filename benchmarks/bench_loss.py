"""The decoder and its loss: torch's ``F.cross_entropy(F.linear(...))`` against rnnkit's fused
``linear_cross_entropy`` (``rnnkit/models/losses.py``), forward + backward.

Sizes: ``N`` rows (tokens per batch) × ``K`` features → ``V`` classes; the default set is the
PTB small model's decoder (400 × 200 → 10,000), Tiny Shakespeare's characters (6,400 × 512 →
65). One thread unless ``--threads``; the two ways alternate in each
round (the order rotates); medians of the rounds; both gradients are checked equal first.

    python benchmarks/bench_loss.py [--rounds 45] [--threads 1]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from timing import interleaved_medians

from rnnkit.models.losses import linear_cross_entropy

SIZES = [(400, 200, 10_000), (6_400, 512, 65)]


def _runners(rows: int, features: int, classes: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(rows, features, generator=generator, requires_grad=True)
    weight = (0.1 * torch.randn(classes, features, generator=generator)).requires_grad_()
    bias = torch.zeros(classes, requires_grad=True)
    targets = torch.randint(0, classes, (rows,), generator=generator)
    parameters = (hidden, weight, bias)

    def run(loss_of):
        def step():
            for parameter in parameters:
                parameter.grad = None
            loss_of(hidden, weight, bias, targets).backward()
            return [parameter.grad for parameter in parameters]
        return step

    return {
        "torch": run(lambda h, w, b, y: F.cross_entropy(F.linear(h, w, b), y)),
        "fused": run(linear_cross_entropy),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=45)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), medians of {args.rounds} rounds")
    print("| N × K → V | torch ms | fused ms | fused / torch |")
    print("|---|---:|---:|---:|")
    for rows, features, classes in SIZES:
        runners = _runners(rows, features, classes)
        for want, got in zip(runners["torch"](), runners["fused"]()):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
        medians = {name: seconds * 1000 for name, seconds in
                   interleaved_medians(runners, args.rounds).items()}  # ms
        print(f"| {rows} × {features} → {classes:,} | {medians['torch']:.1f} | "
              f"{medians['fused']:.1f} | {medians['fused'] / medians['torch']:.2f} |")


if __name__ == "__main__":
    main()

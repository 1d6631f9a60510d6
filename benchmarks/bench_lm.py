"""Training throughput of a word-level LSTM language model: rnnkit vs the same model on torch.nn.

The model is Zaremba et al.'s "small" PTB configuration (2 × 200 LSTM, embedding 200, vocabulary
10k, bptt 20, batch 20, SGD, clip 5). Both models hold the same weights and train on the same
windows (PTB train from ../shared/data/ptb when present, else random ids); rounds alternate
between them, each round starting with the next runner, and each figure is the median over
rounds after a warm-up round.

    python benchmarks/bench_lm.py [--rounds 7] [--windows 40] [--impls auto reference]

Writes benchmarks/results/lm.md (or ``--out``) and prints the table.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from rnnkit.data import LMStream
from rnnkit.models import LanguageModel, LanguageModelConfig, detach_state

ROOT = Path(__file__).resolve().parents[1]
PTB = ROOT.parent / "shared" / "data" / "ptb" / "ptb.train.txt"
SMALL = {"embed_size": 200, "hidden_size": 200, "num_layers": 2, "init_range": 0.1}


class TorchLanguageModel(nn.Module):
    """The same architecture with torch.nn.LSTM, for the reference timing."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, 200)
        self.rnn = nn.LSTM(200, 200, num_layers=2, batch_first=True)
        self.drop = nn.Dropout(0.0)
        self.decoder = nn.Linear(200, vocab_size)

    def forward(self, ids, state=None, targets=None):
        hidden, state = self.rnn(self.drop(self.embedding(ids)), state)
        logits = self.decoder(self.drop(hidden))
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss, state


def _ids(vocab_size: int, count: int) -> torch.Tensor:
    if PTB.is_file():
        from rnnkit.text import Vocab, get_tokenizer

        tokenizer = get_tokenizer("whitespace")
        lines = [tokenizer.tokenize(line) + ["</s>"] for line in
                 PTB.read_text().splitlines()[: count // 15]]
        vocab = Vocab.build(lines, max_size=vocab_size)
        ids = [i for line in lines for i in vocab.encode(line)]
        return torch.tensor(ids[:count])
    return torch.randint(0, vocab_size, (count,), generator=torch.Generator().manual_seed(0))


def _train_windows(model, windows, optimizer) -> dict[str, float]:
    """Train on ``windows`` with the state carried; seconds spent in forward, backward and
    clip + optimizer step."""
    state = None
    spent = {"forward": 0.0, "backward": 0.0, "step": 0.0}
    for x, y in windows:
        started = time.perf_counter()
        output = model(x, state, targets=y)
        forwarded = time.perf_counter()
        output[1].backward()
        backwarded = time.perf_counter()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        stepped = time.perf_counter()
        state = detach_state(output[2])
        spent["forward"] += forwarded - started
        spent["backward"] += backwarded - forwarded
        spent["step"] += stepped - backwarded
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--windows", type=int, default=40, help="training windows per round")
    parser.add_argument("--impls", nargs="+", default=["auto", "reference"],
                        help="rnnkit impl values to time")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--control", action="store_true",
                        help="also time rnnkit's LanguageModel with torch.nn.LSTM inside: what "
                             "the model around the layer costs, and the run's noise")
    parser.add_argument("--parts", action="store_true",
                        help="also print the median ms per window of forward, backward and step")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lm.md",
                        help="where to write the table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vocab_size, batch, bptt = 10_000, 20, 20
    stream = LMStream(_ids(vocab_size, batch * (bptt * args.windows + 1)), batch, bptt)
    windows = [stream[i] for i in range(len(stream))]
    tokens = sum(y.numel() for _, y in windows)
    torch.manual_seed(0)
    reference = TorchLanguageModel(vocab_size)
    runners = {"torch.nn.LSTM": reference}
    for impl in args.impls:
        config = LanguageModelConfig(vocab_size=vocab_size, rnn_options={"impl": impl}, **SMALL)
        model = LanguageModel(config)
        model.load_state_dict(reference.state_dict())
        runners[f"rnnkit impl={impl}"] = model
    if args.control:
        control = LanguageModel(LanguageModelConfig(vocab_size=vocab_size, **SMALL))
        control.rnn = nn.LSTM(200, 200, num_layers=2, batch_first=True)
        control.load_state_dict(reference.state_dict())
        runners["rnnkit model, torch.nn.LSTM inside (control)"] = control
    optimizers = {name: torch.optim.SGD(m.parameters(), lr=1.0) for name, m in runners.items()}
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    parts: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    for round_index in range(args.rounds + 1):
        # Rotate who goes first: a runner's speed depends on what the allocator was left with
        # by the one before it (the 16 MB softmax buffers fault their pages in anew).
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            spent = _train_windows(runners[name], windows, optimizers[name])
            if round_index > 0:
                times[name].append(sum(spent.values()))
                parts[name].append(spent)
    base = statistics.median(times["torch.nn.LSTM"])
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        rows.append(f"| {name} | {tokens / median:,.0f} | {median * 1000 / len(windows):.1f} | "
                    f"{base / median:.2f}× |")
    table = "\n".join([
        "| model | train tokens/s | ms per window | throughput vs torch.nn |",
        "|---|---:|---:|---:|", *rows,
    ])
    command = "python benchmarks/bench_lm.py " + " ".join(
        f"--{k}" if v is True else f"--{k} {' '.join(v) if isinstance(v, list) else v}"
        for k, v in vars(args).items() if v is not False and k != "out")
    header = (
        "# Language-model training throughput (PTB small: 2×200 LSTM, vocab 10k, bptt 20, "
        "batch 20, SGD, clip 5)\n\n"
        f"- date: {datetime.date.today()}\n- machine: {platform.processor() or platform.machine()}"
        f", {os.cpu_count()} cores, torch threads {args.threads}, OMP_WAIT_POLICY "
        f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}\n"
        f"- versions: python {platform.python_version()}, torch {torch.__version__}\n"
        f"- data: {'PTB train' if PTB.is_file() else 'random ids'}, {tokens} tokens per round, "
        f"median of {args.rounds} interleaved rounds after one warm-up\n"
        f"- command: `{command}`\n\n"
    )
    if args.parts:
        rows = [f"| {name} | " + " | ".join(
            f"{statistics.median(p[part] for p in spent) * 1000 / len(windows):.2f}"
            for part in ("forward", "backward", "step")) + " |" for name, spent in parts.items()]
        table += "\n\nms per window, median over rounds:\n\n" + "\n".join(
            ["| model | forward | backward | clip + step |", "|---|---:|---:|---:|", *rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + table + "\n", encoding="utf-8")
    print(header + table)


if __name__ == "__main__":
    main()

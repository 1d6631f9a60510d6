"""onnxruntime against PyTorch eager on the exported graphs (issue 19), one thread each.

Cases, each on the same randomly initialised model in both runtimes:

- ``classifier``: one batch of 30-token sentences through the classifier graph (``ids``,
  ``lengths`` → probabilities); batch 1 is the latency of one sentence, batch 32 the
  throughput.
- ``lm step``: one generated token per row through the language model's step graph (``ids (B,
  1)`` and the carried state → logits and the next state), ``H = 512``; batch 1 is the latency
  per token, batch 32 the throughput.

PyTorch runs ``model.eval()`` under ``torch.inference_mode()`` with ``torch.set_num_threads(1)``;
onnxruntime runs one intra-op thread with sequential execution and every graph optimisation.
Each way is warmed up, then timed in interleaved rounds (:mod:`timing`); the table gives the
median time per call, the throughput and the ratio onnxruntime / PyTorch of the same run.
Issue 19's goal is a ratio ≤ 0.5 at batch 1 for both cases.

Usage::

    python benchmarks/bench_export.py                     # writes results/export.md
    python benchmarks/bench_export.py --repeats 3 --calls 2 --no-write   # smoke test
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import onnx
import onnxruntime
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from timing import interleaved_medians

from rnnkit.export.classifier import classifier_graphs
from rnnkit.export.language_model import language_model_graphs
from rnnkit.models import Classifier, ClassifierConfig, LanguageModel, LanguageModelConfig

SENTENCE_TOKENS = 30
BATCHES = (1, 32)


def ort_session(model: onnx.ModelProto) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(model.SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])


def classifier_runs(batch: int, vocab: int) -> dict[str, Callable[[], object]]:
    """PyTorch and onnxruntime running one batch of 30-token sentences (default config:
    bidirectional LSTM, H = 128, max pooling)."""
    model = Classifier(ClassifierConfig(vocab_size=vocab, num_classes=2)).eval()
    session = ort_session(classifier_graphs(model)["classifier"].model)
    ids = torch.randint(1, vocab, (batch, SENTENCE_TOKENS))
    lengths = torch.full((batch,), SENTENCE_TOKENS, dtype=torch.int64)
    feed = {"ids": ids.numpy(), "lengths": lengths.numpy()}

    def eager() -> object:
        with torch.inference_mode():
            return model(ids, lengths).logits.softmax(dim=-1)

    return {"torch": eager, "onnxruntime": lambda: session.run(None, feed)}


def lm_step_runs(batch: int, vocab: int, hidden: int) -> dict[str, Callable[[], object]]:
    """PyTorch and onnxruntime computing one next token's logits and state (2-layer LSTM)."""
    model = LanguageModel(LanguageModelConfig(vocab_size=vocab, embed_size=hidden,
                                              hidden_size=hidden, num_layers=2)).eval()
    session = ort_session(language_model_graphs(model)["step"].model)
    ids = torch.randint(1, vocab, (batch, 1))
    state = (torch.randn(2, batch, hidden), torch.randn(2, batch, hidden))
    feed = {"ids": ids.numpy(), "h": state[0].numpy(), "c": state[1].numpy()}

    def eager() -> object:
        with torch.inference_mode():
            return model(ids, state)

    return {"torch": eager, "onnxruntime": lambda: session.run(None, feed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--calls", type=int, default=20, help="calls per runner per round")
    parser.add_argument("--vocab", type=int, default=10000, help="vocabulary size")
    parser.add_argument("--hidden", type=int, default=512, help="the LM's hidden size")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                        "export.md")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = []
    cases = [(f"classifier, {SENTENCE_TOKENS} tokens", "sentences",
              lambda batch: classifier_runs(batch, args.vocab)),
             (f"lm step, H={args.hidden}", "tokens",
              lambda batch: lm_step_runs(batch, args.vocab, args.hidden))]
    for name, unit, make in cases:
        for batch in BATCHES:
            medians = interleaved_medians(make(batch), args.repeats, args.calls)
            eager, ort = medians["torch"], medians["onnxruntime"]
            rows.append(f"| {name} | {batch} | {eager * 1e3:.3f} | {ort * 1e3:.3f} | "
                        f"{batch / eager:,.0f} | {batch / ort:,.0f} | {unit} | "
                        f"{ort / eager:.2f} |")
    header = (
        "# onnxruntime vs PyTorch eager on the exported graphs (bench_export.py)\n\n"
        f"- date: {datetime.date.today()}\n"
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        "visible, one thread per runtime\n"
        f"- versions: torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, onnx "
        f"{onnx.__version__}, numpy {np.__version__}\n"
        f"- command: python benchmarks/bench_export.py --repeats {args.repeats} --calls "
        f"{args.calls} --vocab {args.vocab} --hidden {args.hidden}\n"
        "- medians of interleaved rounds; ratio = onnxruntime / torch (goal at batch 1: "
        "≤ 0.5)\n\n"
        "| case | batch | torch ms | onnxruntime ms | torch per s | onnxruntime per s | unit | "
        "ratio |\n|---|---|---|---|---|---|---|---|\n")
    table = header + "\n".join(rows) + "\n"
    print(table)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

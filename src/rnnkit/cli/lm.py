"""Language-model commands: ``train lm``, ``generate``, ``evaluate``, ``inspect``, ``demo``."""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

from rnnkit.cli import classify, tag, translate
from rnnkit.cli.common import (
    add_model_directories,
    add_training_arguments,
    ensemble_directories,
    given_limits,
    rnn_option,
    run_training,
    train_config_from_args,
)
from rnnkit.tasks import language_modeling as lm
from rnnkit.train import TrainConfig
from rnnkit.train.plots import plot_gates

DEMO_SETTINGS = {
    "model": {"cell": "lstm", "embed_size": 64, "hidden_size": 256, "num_layers": 1},
    "data": {"level": "char", "batch_size": 32, "bptt": 100, "eval_batch_size": 32},
    "train": {"epochs": 3, "optimizer": "adam", "lr": 3e-3, "clip": 5.0},
}


def add_train_parser(tasks) -> None:
    parser = tasks.add_parser(
        "lm", help="train a word- or character-level language model",
        description="Train a recurrent language model on a plain-text corpus (one sentence or "
                    "line per line; each line ends with </s>). Writes a model directory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", help="training corpus (UTF-8 text); required unless --resume")
    data.add_argument("--valid", help="validation corpus; default: the last --valid-fraction "
                                      "of --data")
    data.add_argument("--valid-fraction", type=float, default=0.1,
                      help="share of the training stream held out when --valid is absent")
    data.add_argument("--level", choices=lm.LEVELS, default="word", help="token unit")
    data.add_argument("--lang", choices=lm.LANGS, default="en",
                      help="word tokenizer: English rules, jieba (zh), or both (auto)")
    data.add_argument("--tokenizer", choices=("word", "char", "chinese", "whitespace", "auto"),
                      help="override the tokenizer --level/--lang pick (whitespace: "
                           "pre-tokenized text such as PTB)")
    data.add_argument("--max-vocab", type=int, help="vocabulary size cap, specials included")
    data.add_argument("--min-freq", type=int, default=1, help="drop rarer tokens (to <unk>)")
    data.add_argument("--mode", choices=lm.MODES, default="stream",
                      help="stream: truncated BPTT over the running text; sentences: each "
                           "line is one padded sequence <s> … </s>")
    data.add_argument("--batch-size", type=int, default=20,
                      help="parallel streams (or sentences) per batch")
    data.add_argument("--bptt", type=int, default=35, help="steps per truncated-BPTT window")
    data.add_argument("--eval-batch-size", type=int, default=10, help="streams in validation")
    model = parser.add_argument_group("model")
    model.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm")
    model.add_argument("--embed", type=int, default=200, help="embedding size")
    model.add_argument("--hidden", type=int, default=200, help="recurrent hidden size")
    model.add_argument("--layers", type=int, default=2, help="stacked recurrent layers")
    model.add_argument("--dropout", type=float, default=0.0,
                       help="dropout on embeddings, between layers and on the output")
    model.add_argument("--tie-weights", action="store_true",
                       help="share the embedding and output matrices (needs --embed == --hidden)")
    model.add_argument("--init-range", type=float, default=0.0,
                       help="draw all weights from U(-r, r); 0 keeps the default initialisation")
    model.add_argument("--rnn-option", type=rnn_option, action="append", default=[],
                       metavar="KEY=VALUE",
                       help="any rnnkit.nn layer option, e.g. layer_norm=true or "
                            "recurrent_activation=hard_sigmoid (repeatable)")
    add_training_arguments(parser, epochs=10, optimizer="sgd", lr=1.0, clip=5.0)
    parser.add_argument("--device", default="cpu",
                        help="where to train: cpu, cuda or cuda:N (exact resume: CPU only)")
    parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    return run_training(
        args, "lm", start=lambda: _start(args),
        resume=lambda: lm.resume_language_model(args.out, quiet=args.quiet, device=args.device,
                                                limits=given_limits(args)),
        report=lambda trainer: _print_result(trainer.history, args.out),
    )


def _start(args: argparse.Namespace):
    return lm.train_language_model(
        _data_from_args(args), _model_from_args(args), train_config_from_args(args),
        args.out, quiet=args.quiet, device=args.device,
    )


def _data_from_args(args) -> lm.LMData:
    return lm.LMData(
        corpus=args.data, valid=args.valid, level=args.level, lang=args.lang,
        batch_size=args.batch_size, bptt=args.bptt, eval_batch_size=args.eval_batch_size,
        valid_fraction=args.valid_fraction, max_vocab=args.max_vocab, min_freq=args.min_freq,
        tokenizer=args.tokenizer, mode=args.mode,
    )


def _model_from_args(args) -> dict:
    return {"cell": args.cell, "embed_size": args.embed, "hidden_size": args.hidden,
            "num_layers": args.layers, "dropout": args.dropout,
            "tie_weights": args.tie_weights, "init_range": args.init_range,
            "rnn_options": dict(args.rnn_option)}


def _print_result(history: list[dict], out: str) -> None:
    if history and "valid_loss" in history[-1]:
        best = min(history, key=lambda row: row["valid_loss"])
        print(f"best validation loss {best['valid_loss']:.4f} (epoch {best['epoch']}); "
              f"model saved in {out}")
    else:
        print(f"model saved in {out}")


def add_generate_parser(commands) -> None:
    parser = commands.add_parser(
        "generate", help="write new text with a trained language model",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model_dir", metavar="DIR", help="model directory")
    parser.add_argument("--prompt", default="", help="text to continue")
    parser.add_argument("-n", "--num-samples", type=int, default=1, help="samples to write")
    parser.add_argument("--max-tokens", type=int, default=200,
                        help="new tokens per sample (words stop earlier at </s>)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="softmax temperature (> 0; lower is more conservative)")
    parser.add_argument("--top-k", type=int, help="sample among the k most likely tokens")
    parser.add_argument("--top-p", type=float, help="nucleus sampling: smallest set with mass p")
    parser.add_argument("--greedy", action="store_true", help="always take the most likely")
    parser.add_argument("--seed", type=int, help="random seed for reproducible samples")
    parser.set_defaults(run=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    if args.num_samples < 1:
        raise ValueError(f"generate: -n must be >= 1, got {args.num_samples}")
    loaded = lm.load_language_model(args.model_dir)
    samples = lm.generate_text(
        loaded, args.prompt, num_samples=args.num_samples, max_new_tokens=args.max_tokens,
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        greedy=args.greedy, seed=args.seed,
    )
    separator = "\n\n" if loaded.level == "char" else "\n"
    print(separator.join(samples))
    return 0


def add_evaluate_parser(commands) -> None:
    parser = commands.add_parser(
        "evaluate", help="a model's metrics on a file, for the task in its config.json "
                         "(LM: loss, perplexity/bpc; classify: accuracy, macro-F1, report; tag: entity "
                         "P/R/F1; translate: BLEU)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_model_directories(parser)
    parser.add_argument("--data", required=True, help="file to score (the task's format)")
    parser.add_argument("--batch-size", type=int, default=1, help="LM: parallel streams")
    parser.add_argument("--bptt", type=int, default=35, help="LM: steps per window")
    parser.add_argument("--plot", help="classify: write the confusion matrix to this PNG")
    parser.add_argument("--beam-width", type=int, default=1, help="translate: 1 is greedy")
    parser.add_argument("--length-penalty", type=float, default=1.0,
                        help="translate: beam scores are log p / length^this")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.set_defaults(run=run_evaluate)


TASK_EVALUATORS = {classify.cls.TASK: classify.evaluate_classify,
                   tag.tagging.TASK: tag.evaluate_tag,
                   translate.translation.TASK: translate.evaluate_translate}
"""``evaluate`` of the task models other than the language model, by config.json task."""


def run_evaluate(args: argparse.Namespace) -> int:
    task = ensemble_directories(args, "evaluate", classify.cls.TASK)
    if task in TASK_EVALUATORS:
        return TASK_EVALUATORS[task](args)
    loaded = lm.load_language_model(args.model_dir)
    metrics = lm.evaluate_language_model(loaded, args.data, args.batch_size, args.bptt)
    if args.json:
        print(json.dumps(metrics))
    else:
        print("\n".join(f"{name}\t{value:.4f}" for name, value in metrics.items()))
    return 0


def add_inspect_parser(commands) -> None:
    parser = commands.add_parser(
        "inspect", help="plot an LSTM's gates and cell state over a text (PNG heatmap)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model_dir", metavar="DIR", help="model directory (an LSTM model)")
    parser.add_argument("--text", required=True, help="text to run through the model")
    parser.add_argument("--out", default="gates.png", help="PNG file to write")
    parser.add_argument("--layer", type=int, default=0, help="which recurrent layer")
    parser.add_argument("--units", type=int, default=32, help="hidden units to show")
    parser.set_defaults(run=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    loaded = lm.load_language_model(args.model_dir)
    tokens, gates = lm.trace_gates(loaded, args.text, args.layer)
    plot_gates(tokens, gates, Path(args.out), args.units)
    print(f"wrote {args.out}: gates i, f, o and cell state c over {len(tokens)} tokens")
    return 0


def add_demo_parser(commands) -> None:
    parser = commands.add_parser(
        "demo", help="train a character LSTM on the bundled Tiny Shakespeare and write samples",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", default="runs/demo", help="model directory to write")
    parser.add_argument("--minutes", type=float, default=2.5, help="training time budget")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run_demo)


def demo_corpus() -> Path:
    """The bundled Tiny Shakespeare text (public domain; see its SOURCE.md)."""
    return Path(str(resources.files("rnnkit") / "resources" / "tinyshakespeare" / "input.txt"))


def run_demo(args: argparse.Namespace) -> int:
    settings = DEMO_SETTINGS
    print(f"rnnkit demo: a character-level LSTM learns Tiny Shakespeare for "
          f"{settings['train']['epochs']} epochs (at most {args.minutes:g} minutes), then "
          "writes new text.\n")
    data = lm.LMData(corpus=str(demo_corpus()), **settings["data"])
    train = TrainConfig(**settings["train"], max_minutes=args.minutes)
    lm.train_language_model(data, settings["model"], train, args.out, quiet=args.quiet)
    loaded = lm.load_language_model(args.out)
    for seed, prompt in enumerate(("ROMEO:", "KING HENRY:")):
        sample = lm.generate_text(loaded, prompt, max_new_tokens=300, temperature=0.8,
                                  seed=seed)[0]
        print(f"\n--- sample (prompt {prompt!r}, temperature 0.8) ---\n{sample}")
    print(f"\nModel directory: {args.out} (loss curve in {args.out}/loss.png). More text:\n"
          f"  rnnkit generate {args.out} --prompt 'JULIET:' -n 2 --temperature 0.8")
    return 0

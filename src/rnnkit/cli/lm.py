"""Language-model commands: ``generate`` (text, or ABC tunes as files), ``inspect``,
``demo``."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from rnnkit.extras import require
from rnnkit.loading import load
from rnnkit.tasks import language_modeling as lm
from rnnkit.tasks import music
from rnnkit.tasks.contract import model_entries
from rnnkit.tasks.lm_pipeline import FORMATS
from rnnkit.train import TrainConfig
from rnnkit.train.plots import plot_gates
from rnnkit.train.run_directory import claim_run_directory

TEXT_MAX_TOKENS = 200
"""New tokens per text sample when --max-tokens is not given."""
DEMO_SETTINGS = {
    "model": {"cell": "lstm", "embed_size": 64, "hidden_size": 256, "num_layers": 1},
    "data": {"level": "char", "batch_size": 32, "bptt": 100, "eval_batch_size": 32},
    "train": {"epochs": 3, "optimizer": "adam", "lr": 3e-3, "clip": 5.0},
}


def _language_model(directory: str, command: str) -> lm.LanguageModelPipeline:
    """The language model in ``directory``; another task's model is an error naming it."""
    pipeline = load(directory)
    if pipeline.task != lm.TASK:
        raise ValueError(f"{command}: {directory} holds a {pipeline.task!r} model; {command} "
                         "needs a language model ('lm')")
    return pipeline


def add_generate_parser(commands) -> None:
    # each help says its own default: a formatter that appends them would name most twice
    parser = commands.add_parser(
        "generate", help="write new text (or ABC tunes) with a trained language model")
    parser.add_argument("model_dir", metavar="DIR", help="model directory")
    parser.add_argument("--prompt", help="text to continue (default: none; 'X:' for tunes)")
    parser.add_argument("-n", "--num-samples", type=int, default=1,
                        help="samples to write (default: 1)")
    parser.add_argument("--max-tokens", type=int,
                        help=f"new tokens per sample (default: {TEXT_MAX_TOKENS}, or "
                             f"{music.MAX_CHARS} characters per tune; words stop earlier "
                             "at </s>, tunes at their end)")
    tunes = parser.add_argument_group("tunes (ABC notation)")
    tunes.add_argument("--format", choices=FORMATS,
                       help="'abc' writes each sample's tune to --out as .abc, .mid and "
                            ".musicxml (through music21) and prints a summary; 'text' prints "
                            "the samples (default: what the model was trained on). 'abc' also "
                            "serves a character model trained on a plain file of ABC tunes "
                            "(the same model); a word model cannot spell notation and is "
                            "refused")
    tunes.add_argument("--out", metavar="FOLDER",
                       help="--format abc: the folder for tune_001.abc, … (required there, "
                            "no default)")
    tunes.add_argument("--overwrite", action="store_true",
                       help="--format abc: replace the tune files already in --out, never "
                            "other files (default: refuse them)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="softmax temperature, > 0; lower is more conservative "
                             "(default: 1.0)")
    parser.add_argument("--top-k", type=int,
                        help="sample among the k most likely tokens (default: all tokens)")
    parser.add_argument("--top-p", type=float,
                        help="nucleus sampling: the smallest set with mass p (default: all "
                             "tokens)")
    parser.add_argument("--greedy", action="store_true",
                        help="always take the most likely token (default: sample)")
    parser.add_argument("--seed", type=int,
                        help="random seed for reproducible samples (default: none, new "
                             "samples each run)")
    parser.set_defaults(run=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    if args.num_samples < 1:
        raise ValueError(f"generate: -n must be >= 1, got {args.num_samples}")
    pipeline = _language_model(args.model_dir, "generate")
    if (args.format or pipeline.text_format) == "abc":
        return _generate_tunes(args, pipeline)
    if args.out is not None or args.overwrite:
        raise ValueError("generate: --out and --overwrite write tune files: they apply to "
                         "--format abc")
    samples = pipeline.generate(
        args.prompt or "", n=args.num_samples,
        max_tokens=TEXT_MAX_TOKENS if args.max_tokens is None else args.max_tokens,
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        greedy=args.greedy, seed=args.seed,
    )
    separator = "\n\n" if pipeline.level == "char" else "\n"
    print(separator.join(samples))
    return 0


def _generate_tunes(args: argparse.Namespace, pipeline: lm.LanguageModelPipeline) -> int:
    """``generate --format abc``: tunes sampled, written to ``--out``, summed up in a line."""
    if args.out is None:
        raise ValueError("generate --format abc: --out is required (the folder for the tune "
                         "files)")
    if args.greedy:
        raise ValueError("generate --format abc: --greedy would write the same tune -n times; "
                         "sample with --temperature, --top-k or --top-p")
    music.check_tune_folder(args.out, overwrite=args.overwrite)  # before the model runs
    require("music21", "music", "generate --format abc")  # it writes and checks the tunes
    prompt = "X:" if args.prompt is None else args.prompt
    max_chars = music.MAX_CHARS if args.max_tokens is None else args.max_tokens
    tunes = music.generate_tunes(pipeline, args.num_samples, seed=args.seed,
                                 temperature=args.temperature, max_chars=max_chars,
                                 prompt=prompt, top_k=args.top_k, top_p=args.top_p)
    reports = music.write_tunes([tune.abc for tune in tunes], args.out,
                                overwrite=args.overwrite)
    print(music.summary_line(tunes, reports, args.out, max_chars))
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
    if args.units < 1:
        raise ValueError(f"inspect: --units must be >= 1, got {args.units}")
    tokens, gates = _language_model(args.model_dir, "inspect").trace_gates(args.text,
                                                                           args.layer)
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
    with claim_run_directory(args.out, resume=False, overwrite=True, entries=model_entries()):
        lm.LANGUAGE_MODELING.train(data, settings["model"], train, args.out, quiet=args.quiet)
    pipeline = lm.LANGUAGE_MODELING.load(args.out)
    for seed, prompt in enumerate(("ROMEO:", "KING HENRY:")):
        sample = pipeline.generate(prompt, max_tokens=300, temperature=0.8, seed=seed)[0]
        print(f"\n--- sample (prompt {prompt!r}, temperature 0.8) ---\n{sample}")
    print(f"\nModel directory: {args.out} (loss curve in {args.out}/loss.png). More text:\n"
          f"  rnnkit generate {args.out} --prompt 'JULIET:' -n 2 --temperature 0.8")
    return 0

"""How much of an ABC model's output is music: the shares of tunes that music21 parses, whose
bars all have the length their meter says, and that end on their key's tonic
(:mod:`rnnkit.tasks.music_metrics`), for three sets of tunes side by side:

- **generated**: ``-n`` tunes sampled from the trained model in DIR (seeded);
- **held out** (the ceiling): the first ``-n`` tunes of DIR's held-out split
  (``DIR/corpus/valid.abc``, or ``--held-out FILE``), as the model's training tunes were read;
- **untrained** (the floor): ``-n`` tunes sampled from a model of DIR's configuration and
  vocabulary with freshly initialised weights (seeded), at the same settings.

    python benchmarks/eval_music.py DIR [-n 100] [--seed 0] [--temperature 1.0]
        [--max-chars 1000] [--held-out FILE] [--out benchmarks/results/music.md]

DIR is a model of ``rnnkit train lm --format abc`` (or any character model, with
``--held-out``), or its ONNX export, which keeps no held-out split: pass ``--held-out`` with
it. The held-out tunes are read first, so a missing split fails before any sampling. Prints
a markdown table and writes it (with the command, date, machine and versions) to ``--out``;
the training command and its minutes belong beside it in RESULTS.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import torch

import rnnkit
from rnnkit.data.abc import read_abc
from rnnkit.tasks.language_modeling import LANGUAGE_MODELING
from rnnkit.tasks.music import generate_tunes
from rnnkit.tasks.music_metrics import METRICS, music21_module, music_shares
from rnnkit.text.tunes import TUNE_CHARS

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"parses": "music21 parses", "bars_fit": "bars fit the meter",
          "ends_on_tonic": "ends on the tonic"}


def trained_pipeline(directory: str):
    """DIR's language model pipeline: a model directory's (torch) or an export's
    (onnxruntime); another task's model is a ValueError."""
    pipeline = rnnkit.load(directory)
    if pipeline.task != LANGUAGE_MODELING.name:
        raise ValueError(f"DIR {directory} holds a {pipeline.task!r} model, not a language "
                         "model of ABC tunes")
    return pipeline


def untrained_pipeline(trained, seed: int):
    """``trained``'s pipeline with the weights of a fresh torch model of its configuration
    (seeded), reading the vocabulary of its directory."""
    torch.manual_seed(seed)
    model = LANGUAGE_MODELING.build_model(trained.config).eval()
    return LANGUAGE_MODELING.pipeline(Path(trained.directory), trained.config, model)


def held_out_tunes(pipeline, path: str | None, count: int) -> list[str]:
    """The first ``count`` tunes of the held-out file (``--held-out``, else DIR's held-out
    split), read with the model's header choice. DIR without that split (an ONNX export) and
    no ``--held-out`` is a ValueError that says to pass one."""
    if path:
        source, argument = Path(path), "--held-out"
    else:
        source, argument = pipeline.held_out_tunes, "DIR's held-out split"
        if not source.is_file():
            raise ValueError(f"DIR {pipeline.directory} has no held-out split ({source} is "
                             "missing, as in an ONNX export); pass --held-out FILE")
    headers = pipeline.config["data"].get("abc_headers") or "keep"
    return read_abc(source, headers, argument=argument)[:count]


def sampled(pipeline, args: argparse.Namespace) -> tuple[list[str], int]:
    """``-n`` generated tunes and how many of them never ended within ``--max-chars``."""
    tunes = generate_tunes(pipeline, args.num_tunes, seed=args.seed,
                           temperature=args.temperature, max_chars=args.max_chars)
    return [tune.abc for tune in tunes], sum(not tune.ended for tune in tunes)


def table(rows: dict[str, dict[str, float]], unended: dict[str, int]) -> str:
    header = ["tunes", "count", *(LABELS[name] for name in METRICS), "never ended"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, shares in rows.items():
        cells = [name, f"{shares['tunes']:.0f}", *(f"{shares[m]:.2f}" for m in METRICS),
                 str(unended[name]) if name in unended else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", metavar="DIR",
                        help="trained ABC model directory, or its ONNX export")
    parser.add_argument("-n", "--num-tunes", type=int, default=100, help="tunes per row")
    parser.add_argument("--seed", type=int, default=0, help="sampling and untrained-init seed")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-chars", type=int, default=TUNE_CHARS,
                        help="new characters per tune")
    parser.add_argument("--held-out", help="ABC file of held-out tunes (default: "
                                           "DIR/corpus/valid.abc)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "music.md"))
    args = parser.parse_args(argv)
    music21 = music21_module()
    started = time.perf_counter()
    trained = trained_pipeline(args.model_dir)
    held_out = held_out_tunes(trained, args.held_out, args.num_tunes)
    generated, generated_unended = sampled(trained, args)
    floor, floor_unended = sampled(untrained_pipeline(trained, args.seed), args)
    rows = {"generated": music_shares(generated),
            "held out (ceiling)": music_shares(held_out),
            "untrained (floor)": music_shares(floor)}
    unended = {"generated": generated_unended, "untrained (floor)": floor_unended}
    result = table(rows, unended)
    print(result)
    command = "python benchmarks/eval_music.py " + " ".join(sys.argv[1:] if argv is None
                                                            else argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        f"# How much of the output is music\n\n`{command}`\n\n{result}\n\n"
        f"Model: {args.model_dir} (bpc and training minutes: RESULTS). Sampling: seed "
        f"{args.seed}, temperature {args.temperature:g}, at most {args.max_chars} characters "
        f"per tune. {datetime.date.today()}, {platform.machine()} "
        f"{platform.processor() or platform.system()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}, music21 {music21.VERSION_STR}; "
        f"{time.perf_counter() - started:.0f} s.\n", "utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

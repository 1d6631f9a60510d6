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
``--held-out``). Prints a markdown table and writes it (with the command, date, machine and
versions) to ``--out``; the training command and its minutes belong beside it in RESULTS.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import torch

from rnnkit.data.abc import read_abc
from rnnkit.tasks.language_modeling import LANGUAGE_MODELING
from rnnkit.tasks.music import generate_tunes
from rnnkit.tasks.music_metrics import METRICS, music21_module, music_shares

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"parses": "music21 parses", "bars_fit": "bars fit the meter",
          "ends_on_tonic": "ends on the tonic"}


def untrained_pipeline(directory: Path, seed: int):
    """DIR's pipeline with the weights of a fresh model of its configuration (seeded)."""
    trained = LANGUAGE_MODELING.load(directory)
    torch.manual_seed(seed)
    model = LANGUAGE_MODELING.build_model(trained.config).eval()
    return LANGUAGE_MODELING.pipeline(Path(directory), trained.config, model)


def held_out_tunes(pipeline, path: str | None, count: int) -> list[str]:
    """The first ``count`` tunes of the held-out file, read with the model's header choice."""
    source = Path(path) if path else pipeline.held_out_tunes
    headers = pipeline.config["data"].get("abc_headers") or "keep"
    return read_abc(source, headers, argument="--held-out")[:count]


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
    parser.add_argument("model_dir", metavar="DIR", help="trained ABC model directory")
    parser.add_argument("-n", "--num-tunes", type=int, default=100, help="tunes per row")
    parser.add_argument("--seed", type=int, default=0, help="sampling and untrained-init seed")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-chars", type=int, default=1000, help="new characters per tune")
    parser.add_argument("--held-out", help="ABC file of held-out tunes (default: "
                                           "DIR/corpus/valid.abc)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "music.md"))
    args = parser.parse_args(argv)
    music21 = music21_module()
    started = time.perf_counter()
    trained = LANGUAGE_MODELING.load(args.model_dir)
    generated, generated_unended = sampled(trained, args)
    floor, floor_unended = sampled(untrained_pipeline(Path(args.model_dir), args.seed), args)
    rows = {"generated": music_shares(generated),
            "held out (ceiling)": music_shares(held_out_tunes(trained, args.held_out,
                                                              args.num_tunes)),
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

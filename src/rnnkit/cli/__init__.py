"""The ``rnnkit`` command line: train, generate, predict, evaluate, inspect, export and a demo, on
plain files. ``train``, ``evaluate`` and ``predict`` are made from the task registry
(:mod:`rnnkit.tasks`): a registered task appears there without a line changed here.

Errors print one line (``rnnkit: error: …``) and exit 1; ``--debug`` shows the traceback. A
missing optional extra is such an error (:class:`rnnkit.extras.MissingExtra`: what needs it, the
package and ``pip install 'rnnkit[EXTRA]'``).
"""

from __future__ import annotations

import argparse
import sys
import warnings

from rnnkit import __version__
from rnnkit.cli import evaluate, export, lm, predict, serve, split, train, translate
from rnnkit.cli.allocator import keep_freed_memory
from rnnkit.extras import MissingExtra

EXPECTED_ERRORS = (ValueError, TypeError, OSError, RuntimeError, MissingExtra)
"""Errors printed as one line; any other (an ImportError that is not a missing extra
included) is a bug and shows its traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks for text: train, generate, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback when a command fails")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train.add_train_parser(commands)
    lm.add_generate_parser(commands)
    evaluate.add_evaluate_parser(commands)
    predict.add_predict_parser(commands)
    translate.add_translate_parser(commands)
    split.add_split_parser(commands)
    lm.add_inspect_parser(commands)
    lm.add_demo_parser(commands)
    serve.add_serve_parser(commands)
    export.add_export_parser(commands)
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"rnnkit: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    formatwarning, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except EXPECTED_ERRORS as error:
        if args.debug:
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"rnnkit: error: {message}", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = formatwarning  # a caller in the same process keeps its own


def run() -> int:
    """The ``rnnkit`` program: :func:`main` in a process of its own, whose allocator keeps
    freed memory for reuse (:mod:`rnnkit.cli.allocator`)."""
    keep_freed_memory()
    return main()

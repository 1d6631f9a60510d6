"""The ``rnnkit`` command line."""

import argparse

from rnnkit import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return 0

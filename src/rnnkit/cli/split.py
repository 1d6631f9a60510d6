"""``rnnkit split``: a fixed-seed held-out split of a data file (train / test)."""

from __future__ import annotations

import argparse

from rnnkit.tasks.splits import RECORDS, split_file


def add_split_parser(commands) -> None:
    parser = commands.add_parser(
        "split", help="split a data file into train and held-out test files (fixed seed)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("path", metavar="FILE", help="data file (lines, CSV or CoNLL)")
    parser.add_argument("--out-dir", required=True, help="where train.EXT and test.EXT go")
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--records", choices=RECORDS,
                        help="record unit (default: csv for .csv files, else lines; blocks "
                             "for CoNLL sentences)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace train.EXT and test.EXT where they exist (never FILE)")
    parser.set_defaults(run=run_split)


def run_split(args: argparse.Namespace) -> int:
    train, test, train_count, test_count = split_file(
        args.path, args.out_dir, args.test_fraction, args.seed, args.records, args.overwrite)
    print(f"wrote {train} ({train_count} records) and {test} ({test_count} records)")
    return 0

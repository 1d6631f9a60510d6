"""``rnnkit export DIR --out DIR_ONNX``: a trained model directory as ONNX graphs beside its
config and vocabularies (:func:`rnnkit.export.to_onnx`)."""

from __future__ import annotations

import argparse

from rnnkit.extras import require


def add_export_parser(commands) -> None:
    parser = commands.add_parser(
        "export", help="export a trained model directory to ONNX (for onnxruntime)",
        description="Write DIR's model as ONNX graphs, with a copy of its config.json and "
                    "vocabularies, into the export directory --out; rnnkit.load and the "
                    "predict/generate/translate/evaluate commands read it with onnxruntime.",
    )
    parser.add_argument("model", metavar="DIR", help="trained model directory")
    parser.add_argument("--out", required=True, help="export directory to write")
    parser.add_argument("--force", action="store_true",
                        help="replace --out if it is an earlier export (or an empty directory)")
    parser.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    require("onnx", "onnx", "rnnkit export")
    from rnnkit.export.writer import to_onnx
    manifest = to_onnx(args.model, args.out, force=args.force)
    graphs = ", ".join(spec.file for spec in manifest.graphs.values())
    print(f"exported the {manifest.task} model of {args.model} to {args.out} ({graphs}, "
          f"opset {manifest.opset})")
    return 0

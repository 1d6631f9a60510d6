"""``rnnkit serve DIR [DIR ...]``: trained models behind a JSON API (FastAPI + uvicorn).

FastAPI and uvicorn (the ``serve`` extra) are imported when the command runs, so the rest of
the command line works without them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields

from rnnkit.extras import require
from rnnkit.serve.settings import ServeSettings, load_models, model_names

DEFAULTS = {field.name: field.default for field in fields(ServeSettings)}
LIMITS = (
    ("--max-body-bytes", int, "the largest request body, in bytes"),
    ("--max-texts", int, "the most texts (or prompts) in one request"),
    ("--max-text-chars", int, "the longest text (or prompt), in characters"),
    ("--max-n", int, "the most samples per prompt (generate's n)"),
    ("--max-tokens", int, ("the most tokens per output (generate's max_tokens, translate's "
                           "max_length)")),
    ("--max-beam-width", int, "the widest beam (translate's beam_width)"),
    ("--max-batch", int, ("the most texts gathered from several requests into one pipeline "
                         "call (one request is never split: --max-texts bounds it)")),
    ("--max-wait-ms", float, "how long a batch waits for more requests after its first"),
)
API_KEY_VARIABLE = "RNNKIT_API_KEY"


def add_serve_parser(commands) -> None:
    parser = commands.add_parser(
        "serve", help="serve trained models over HTTP (a JSON API; needs rnnkit[serve])",
        description="Serve model directories, each named after its basename, at "
                    "/v1/models/NAME/{generate,score,predict,tag,translate}; /docs shows the "
                    "API. Requests that arrive together for one model run as one batch.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model_dirs", nargs="+", metavar="DIR", help="model directory")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes, each holding every model")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--api-key", help="a bearer token every request must send (else "
                                          f"${API_KEY_VARIABLE} if set; neither: open)")
    limits = parser.add_argument_group("limits and batching")
    for flag, kind, text in LIMITS:
        limits.add_argument(flag, type=kind, default=DEFAULTS[flag[2:].replace("-", "_")],
                            help=text)
    parser.set_defaults(run=run_serve)


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    api_key = args.api_key or os.environ.get(API_KEY_VARIABLE) or None
    return ServeSettings(api_key=api_key, **{
        flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"))
        for flag, _, _ in LIMITS})


def run_serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ValueError(f"serve: --port must be from 0 to 65535, got {args.port}")
    if args.workers < 1:
        raise ValueError(f"serve: --workers must be >= 1, got {args.workers}")
    settings = settings_from_args(args)
    names = model_names(args.model_dirs)
    uvicorn = require("uvicorn", "serve", "rnnkit serve")
    require("fastapi", "serve", "rnnkit serve")  # what rnnkit.serve.app is built on
    from rnnkit.serve.app import ENVIRONMENT, create_app
    pipelines = load_models(args.model_dirs, args.device)  # every worker loads them too
    if args.host not in ("127.0.0.1", "localhost", "::1") and settings.api_key is None:
        print(f"rnnkit: warning: serving on {args.host} without --api-key: anyone who can "
              "reach this address can use the models", file=sys.stderr)
    print(f"rnnkit serve: {', '.join(names)} on http://{args.host}:{args.port} "
          f"(API page: /docs)", file=sys.stderr)
    if args.workers == 1:
        uvicorn.run(create_app(pipelines, settings), host=args.host, port=args.port)
        return 0
    os.environ[ENVIRONMENT] = json.dumps({
        "directories": [str(directory) for directory in args.model_dirs],
        "device": args.device, "settings": settings.to_dict()})
    uvicorn.run("rnnkit.serve.app:app_from_environment", factory=True, host=args.host,
                port=args.port, workers=args.workers)
    return 0

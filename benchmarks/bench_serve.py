"""Load test of ``rnnkit serve`` (issue 20): latency and throughput of a classifier and a
language model behind the HTTP API, with dynamic batching and without.

For each server configuration the script starts the server itself (``python -m rnnkit serve
DIRS --host 127.0.0.1 --port P FLAGS`` in a subprocess, a free port, the configuration's
environment variables), waits for ``/healthz``, and for each run:

- warms up with ``--warmup`` requests (not counted), then sends requests from ``C``
  concurrent clients on asyncio, one keep-alive connection each, each client sending its next
  request when the previous one is answered (``--client raw``: HTTP/1.1 by hand, the default,
  cheap in CPU; ``httpx``: ``httpx.AsyncClient``);
- stops by itself after ``--max-requests`` requests or ``--max-seconds`` seconds, whichever
  comes first (requests already sent are awaited, each at most ``--request-timeout`` s);
- records each request's latency and status: any status but 200, or no answer, is a failure.

Runs: ``/predict`` with one text of 10–30 words per request (a random length and a random
window of the words of ``--texts``, else of a built-in list of sentences; seeded) at each
``--concurrency``; ``/generate`` of ``--tokens`` tokens (one prompt, no seed, so concurrent
requests may share a call) at each ``--lm-concurrency``, on configurations without flags;
``GET /healthz`` (no model, no body) at the highest concurrency, the cost of HTTP alone.
Configurations (``--configs``): the defaults (dynamic batching) and ``--max-batch 1`` (none),
each with torch's own number of threads and with ``OMP_NUM_THREADS=1``; a configuration
holding ``+gc-freeze`` starts the server through a bootstrap that calls ``gc.freeze()`` before
it serves (an experiment on its pauses: see RESULTS, "Serving"). The server's and this
process's CPU time per request (``/proc``) say where the shared cores went.

Reference rows, outside the server (this process, no server running): ``pipeline.predict`` on
batches of ``--reference-batches`` texts and ``pipeline.generate`` of 1 and 8 prompts, median
over interleaved rounds (``timing.interleaved_medians``), at each ``--reference-threads``; a
batch of B texts in t seconds bounds a server at B / t requests per second.

    python benchmarks/bench_serve.py --classifier /tmp/sst --lm /tmp/demo \\
        --texts data.txt --output benchmarks/results/serve.md

The load generator runs on the same machine (and cores) as the server. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import torch
from timing import interleaved_medians

import rnnkit
from rnnkit.serve.settings import model_names
from rnnkit.tasks import load

SENTENCES = (
    "the film is a charming and often affecting journey through the lives of two friends",
    "a gorgeously strange movie that never quite finds the heart it keeps looking for",
    "the performances are strong but the script wanders off into tedious subplots",
    "it is a smart funny and surprisingly moving look at a family in trouble",
    "nothing in this dull thriller will surprise anyone who has seen a movie before",
    "the director keeps the tension high and the story moving at a brisk pace",
    "an ambitious mess that mistakes noise for energy and length for depth",
    "the cast seems to be having fun even when the jokes fall flat",
    "a quiet well acted drama whose small pleasures add up to something rare",
    "too long too loud and far too pleased with its own cleverness",
)
"""Words for the classifier's texts when no ``--texts`` file is given."""
PROMPTS = ("ROMEO:", "JULIET:", "First Citizen:", "KING RICHARD III:", "The ", "What ")
MIN_WORDS, MAX_WORDS = 10, 30
CLIENTS = {"httpx": f"httpx {httpx.__version__} AsyncClient", "raw": "HTTP/1.1 by hand"}
CONFIGS = ["", "--max-batch 1", "OMP_NUM_THREADS=1", "OMP_NUM_THREADS=1 --max-batch 1"]
"""Server configurations: dynamic batching (the defaults) and none, each with torch's own
number of threads (all cores) and with one (``OMP_NUM_THREADS=1``)."""
FREEZE = "+gc-freeze"
"""A configuration word: start the server through :data:`FREEZE_BOOTSTRAP` (an experiment on
the server's pauses, not a setting of rnnkit serve)."""
FREEZE_BOOTSTRAP = """import gc, runpy, sys, uvicorn
serve = uvicorn.run
def run(*args, **kwargs):
    gc.collect()
    gc.freeze()  # the models and the app, loaded by now, leave the collector's generations
    return serve(*args, **kwargs)
uvicorn.run = run
sys.argv[0] = "rnnkit"
runpy.run_module("rnnkit", run_name="__main__")
"""


# -- requests ---------------------------------------------------------------------------------

def word_pool(path: str | None) -> list[str]:
    """The words texts are cut from: the file's (a leading 0/1 label of an SST line dropped),
    else the built-in sentences'."""
    lines = Path(path).read_text(encoding="utf-8").splitlines() if path else SENTENCES
    words = []
    for line in lines:
        tokens = line.split()
        if tokens and tokens[0] in ("0", "1"):
            tokens = tokens[1:]
        words.extend(tokens)
    if len(words) < MAX_WORDS:
        raise ValueError(f"bench_serve: --texts {path}: expected at least {MAX_WORDS} words, "
                         f"got {len(words)}")
    return words


def draw_texts(words: Sequence[str], count: int, seed: int) -> list[str]:
    """``count`` texts of 10–30 words each, windows of ``words`` at random places."""
    generator = random.Random(seed)
    texts = []
    for _ in range(count):
        length = generator.randint(MIN_WORDS, MAX_WORDS)
        start = generator.randrange(len(words) - length + 1)
        texts.append(" ".join(words[start:start + length]))
    return texts


@dataclass(frozen=True)
class Workload:
    """What one run sends: the method, the path and one JSON body per request (or None)."""

    name: str
    method: str
    path: str
    bodies: list[dict | None]


# -- the server -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``rnnkit serve`` in a subprocess on 127.0.0.1, its log in a temporary file."""

    def __init__(self, directories: Sequence[str], flags: Sequence[str],
                 variables: dict[str, str], freeze: bool = False) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by stop)
            "w+", prefix="bench_serve_", suffix=".log")
        source = str(Path(rnnkit.__file__).resolve().parents[1])
        environment = {**os.environ, **variables, "PYTHONPATH": os.pathsep.join(
            filter(None, [source, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, *(["-c", FREEZE_BOOTSTRAP] if freeze else ["-m", "rnnkit"]),
             "serve", *directories, "--host", "127.0.0.1",
             "--port", str(self.port), *flags],
            stdout=self.log, stderr=subprocess.STDOUT, env=environment)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bench_serve: the server exited ({self.process.returncode})"
                                   f":\n{self.log_text()}")
            try:
                if httpx.get(self.base + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"bench_serve: the server did not answer within {timeout:.0f} s:"
                           f"\n{self.log_text()}")

    def cpu_seconds(self) -> float:
        """The server process's user + system CPU time so far (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_text(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


# -- the load ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    latencies: list[float]  # seconds, every request's (failed ones too)
    failed: int
    seconds: float
    server_cpu: float
    client_cpu: float
    failures: list[str]  # the first few, for the log


class RawConnection:
    """HTTP/1.1 over one keep-alive connection, by hand (bodies with a Content-Length, as
    uvicorn sends them): a load generator that spends a fraction of httpx's CPU time per
    request, so more of the shared cores are left to the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: dict | None) -> tuple[int, str]:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        payload = b"" if body is None else json.dumps(body).encode()
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     f"application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
                     + payload)
        status = int((await reader.readline()).split()[1])
        length = None
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ValueError("a response without Content-Length")
        return status, (await reader.readexactly(length)).decode()

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def send_all(base: str, workload: Workload, bodies: Sequence[dict | None],
                   concurrency: int, max_seconds: float, timeout: float, client: str
                   ) -> tuple[list[float], list[str]]:
    """Send ``bodies`` from ``concurrency`` clients (``httpx`` or ``raw``) until all are sent
    or ``max_seconds`` have passed; each request's latency, and each failure described."""
    latencies: list[float] = []
    failures: list[str] = []
    queue = iter(range(len(bodies)))
    deadline = time.perf_counter() + max_seconds

    async def worker(send) -> None:
        for index in queue:
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            try:
                status, text = await asyncio.wait_for(
                    send(workload.method, workload.path, bodies[index]), timeout)
                problem = None if status == 200 else f"{status} {text[:200]}"
            except (httpx.HTTPError, OSError, ValueError, asyncio.IncompleteReadError,
                    asyncio.TimeoutError) as error:
                problem = f"{type(error).__name__}: {error}"
            latencies.append(time.perf_counter() - started)
            if problem is not None:
                failures.append(problem)

    if client == "raw":
        port = int(base.rsplit(":", 1)[1])
        connections = [RawConnection(port) for _ in range(concurrency)]

        def sender(connection: RawConnection):
            async def send(method, path, body):
                try:
                    return await connection.request(method, path, body)
                except BaseException:
                    connection.close()  # a half-read answer would garble the next one
                    raise
            return send

        try:
            await asyncio.gather(*(worker(sender(connection)) for connection in connections))
        finally:
            for connection in connections:
                connection.close()
        return latencies, failures
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as session:
        async def send(method, path, body):
            response = await session.request(method, path, json=body)
            return response.status_code, response.text

        await asyncio.gather(*(worker(send) for _ in range(concurrency)))
    return latencies, failures


def run_load(server: Server, workload: Workload, concurrency: int, args) -> Outcome:
    warmup = workload.bodies[:args.warmup]
    asyncio.run(send_all(server.base, workload, warmup, concurrency, args.max_seconds,
                         args.request_timeout, args.client))
    bodies = workload.bodies[args.warmup:args.warmup + args.max_requests]
    server_before, client_before = server.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    latencies, failures = asyncio.run(send_all(server.base, workload, bodies, concurrency,
                                               args.max_seconds, args.request_timeout,
                                               args.client))
    seconds = time.perf_counter() - started
    return Outcome(latencies, len(failures), seconds, server.cpu_seconds() - server_before,
                   time.process_time() - client_before, failures[:3])


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of ascending values."""
    rank = min(max(1, math.ceil(fraction * len(sorted_values))), len(sorted_values))
    return sorted_values[rank - 1]


def load_row(label: str, flags: str, concurrency: int, outcome: Outcome) -> str:
    count = len(outcome.latencies)
    ordered = sorted(outcome.latencies)
    p50, p95, p99 = (percentile(ordered, fraction) * 1e3 for fraction in (0.5, 0.95, 0.99))
    return (f"| {label} | {flags} | {concurrency} | {count} | {outcome.failed} | "
            f"{count / outcome.seconds:.0f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | "
            f"{outcome.server_cpu / count * 1e3:.2f} | {outcome.client_cpu / count * 1e3:.2f} |")


# -- references: the pipelines called directly -------------------------------------------------

def reference_rows(args, texts: Sequence[str]) -> list[str]:
    rows = []
    for threads in args.reference_threads:
        torch.set_num_threads(threads)
        rows += [row.replace(" |", f" ({threads} thread{'s' * (threads > 1)}) |", 1)
                 for row in pipeline_rows(args, texts)]
    return rows


def pipeline_rows(args, texts: Sequence[str]) -> list[str]:
    rows = []
    if args.classifier:
        pipeline = load(args.classifier)
        runs = {f"predict B={size}": (lambda size=size: pipeline.predict(list(texts[:size])))
                for size in args.reference_batches}
        for name, seconds in interleaved_medians(runs, args.reference_rounds).items():
            size = int(name.split("=")[1])
            rows.append(f"| `pipeline.predict`, {size} text(s) | {seconds * 1e3:.2f} | "
                        f"{size / seconds:.0f} |")
    if args.lm:
        pipeline = load(args.lm)
        runs = {f"generate {count}": (lambda count=count: pipeline.generate(
                    list(PROMPTS[:1] * count), max_tokens=args.tokens))
                for count in (1, 8)}
        for name, seconds in interleaved_medians(runs, max(3, args.reference_rounds // 4)
                                                 ).items():
            count = int(name.split()[1])
            rows.append(f"| `pipeline.generate`, {count} prompt(s) × {args.tokens} tokens | "
                        f"{seconds * 1e3:.1f} | {count / seconds:.0f} |")
    return rows


# -- main -------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classifier", help="a classifier's model directory")
    parser.add_argument("--lm", help="a language model's model directory")
    parser.add_argument("--texts", help="a text file whose words the classifier's requests "
                                        "are cut from (default: built-in sentences)")
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32, 64])
    parser.add_argument("--lm-concurrency", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--tokens", type=int, default=50, help="generate's max_tokens")
    parser.add_argument("--configs", nargs="*", default=CONFIGS,
                        help="each server configuration: environment variables (NAME=VALUE) "
                             f"then flags of rnnkit serve ('' = the defaults); {FREEZE}: "
                             "gc.freeze() in the server before it serves (an experiment)")
    parser.add_argument("--max-requests", type=int, default=2000, help="per run")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="per run")
    parser.add_argument("--warmup", type=int, default=100, help="requests before each run")
    parser.add_argument("--request-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--reference-batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--reference-rounds", type=int, default=40)
    parser.add_argument("--reference-threads", nargs="+", type=int,
                        default=sorted({torch.get_num_threads(), 1}, reverse=True),
                        help="torch threads of the direct calls (default: torch's and 1)")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="raw",
                        help="the load generator's HTTP client (raw: HTTP/1.1 by hand, "
                             "cheaper per request)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the Markdown table here too")
    args = parser.parse_args(argv)
    if not (args.classifier or args.lm):
        parser.error("give --classifier DIR, --lm DIR or both")
    for name in ("max_requests", "warmup", "tokens"):
        if getattr(args, name) < (0 if name == "warmup" else 1):
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if min(args.concurrency + args.lm_concurrency) < 1:
        parser.error("every concurrency must be >= 1")
    if not 0 < args.max_seconds <= 600:
        parser.error(f"--max-seconds must be from 0 to 600, got {args.max_seconds}")
    return args


def workloads(args, names: dict[str, str], texts: list[str]) -> list[tuple[Workload, list]]:
    """Each workload with the concurrencies it runs at."""
    plan = []
    if args.classifier:
        plan.append((Workload("predict", "POST", f"/v1/models/{names['classifier']}/predict",
                              [{"texts": [text]} for text in texts]), args.concurrency))
    if args.lm:
        count = args.warmup + args.max_requests
        prompts = [PROMPTS[index % len(PROMPTS)] for index in range(count)]
        plan.append((Workload(f"generate {args.tokens}", "POST",
                              f"/v1/models/{names['lm']}/generate",
                              [{"prompt": prompt, "max_tokens": args.tokens}
                               for prompt in prompts]), args.lm_concurrency))
    return plan


def split_config(config: str) -> tuple[dict[str, str], list[str], bool]:
    """A configuration's leading ``NAME=VALUE`` words (the server's environment), the flags
    after them, and whether it holds :data:`FREEZE`."""
    words = config.split()
    freeze = FREEZE in words
    words = [word for word in words if word != FREEZE]
    variables = {}
    while words and "=" in words[0] and not words[0].startswith("-"):
        name, value = words.pop(0).split("=", 1)
        variables[name] = value
    return variables, words, freeze


def machine(client: str) -> str:
    load1, _, _ = os.getloadavg()
    return (f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}, "
            f"client {client}; load average {load1:.2f} at the start")


def main(argv=None) -> None:
    args = parse_args(argv)
    directories = [path for path in (args.classifier, args.lm) if path]
    served = dict(zip([role for role in ("classifier", "lm") if getattr(args, role)],
                      model_names(directories)))
    texts = draw_texts(word_pool(args.texts), args.warmup + args.max_requests, args.seed)
    note = (f"Machine: {machine(CLIENTS[args.client])}. The load generator (this process) runs on the same cores "
            "as the server.")
    lines = [note, ""]
    print(lines[0], flush=True)

    header = ("| run | server flags | concurrency | requests | failed | requests/s | "
              "p50 ms | p95 ms | p99 ms | server CPU ms/request | client CPU ms/request |")
    rows = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(rows), flush=True)
    for config in args.configs:
        variables, flags, freeze = split_config(config)
        label = f"`{config}`" if config.strip() else "defaults"
        server = Server(directories, flags, variables, freeze)
        try:
            server.wait_ready()
            for workload, concurrencies in workloads(args, served, texts):
                if workload.name.startswith("generate") and flags:
                    continue  # generation is not batched across prompts: the defaults only
                for concurrency in concurrencies:
                    outcome = run_load(server, workload, concurrency, args)
                    rows.append(load_row(workload.name, label, concurrency, outcome))
                    print(rows[-1], flush=True)
                    for failure in outcome.failures:
                        print(f"  failed: {failure}", file=sys.stderr)
            if not flags:
                top = max(args.concurrency)
                health = Workload("GET /healthz", "GET", "/healthz",
                                  [None] * (args.warmup + args.max_requests))
                rows.append(load_row(health.name, label, top,
                                     run_load(server, health, top, args)))
                print(rows[-1], flush=True)
        finally:
            server.stop()

    reference = ["| direct call (no server) | median ms per call | requests/s it bounds |",
                 "|---|---:|---:|", *reference_rows(args, texts)]
    print("\n" + "\n".join(reference), flush=True)
    lines += rows + [""] + reference
    if args.output:
        stamp = datetime.date.today().isoformat()
        command = "python benchmarks/bench_serve.py " + " ".join(sys.argv[1:] if argv is None
                                                                 else argv)
        Path(args.output).write_text(f"# Serving load test ({stamp})\n\n`{command}`\n\n"
                                     + "\n".join(lines) + "\n", encoding="utf-8")
        print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()

"""Benchmark rnnkit's recurrent kernels against torch.nn (and Keras 3 on the torch backend).

For every cell × batch × steps × hidden × mode it builds named runners, warms each up, then
times them in interleaved rounds (the runner order rotates each round) and reports medians as
ratios to torch.nn's time in the same round set. A training step ("train") is forward + backward
of ``output.sum()`` with the input requiring grad. Input size = hidden size, one layer, one
direction, float32.

Runners: ``torch.nn``; rnnkit ``native``, ``bptt``, ``reference``; ``keras`` (when importable);
for LSTM also the flexible configuration (recurrent_activation="hard_sigmoid", layer_norm=True,
recurrent_dropout=0.25) as ``flex_bptt``, ``flex_reference`` and ``flex_keras`` (Keras' LSTM
has no layer norm: its runner does hard_sigmoid + recurrent_dropout only, i.e. less work).
``auto`` is not timed separately: it is the runner ``kernels.choose_impl`` picks.

Peak memory of a training step: on CUDA ``torch.cuda.max_memory_allocated`` above the level
before the step; on CPU the running sum, in start order, of every op's own allocations net of
its frees as torch's profiler records them (``profile_memory=True``) during one step (the
second of two profiled ones): its maximum is the peak above the level before the step, to within one op's internal temporaries.

Usage::

    python benchmarks/bench_layers.py                      # the full grid, CPU
    python benchmarks/bench_layers.py --cells lstm --batch 32 --steps 200 --hidden 512
    python benchmarks/bench_layers.py --device cuda        # writes results/layers_cuda.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import rnnkit.nn as rn
from rnnkit.nn.kernels import choose_impl

FLEX = {"recurrent_activation": "hard_sigmoid", "layer_norm": True, "recurrent_dropout": 0.25}
TORCH_LAYERS = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
OUR_LAYERS = {"rnn": rn.RNN, "lstm": rn.LSTM, "gru": rn.GRU}
KERAS_LAYERS = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
TIMED = ["torch.nn", "native", "bptt", "reference", "keras", "flex_bptt", "flex_reference",
         "flex_keras"]


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except Exception:  # noqa: BLE001 - any import failure means "not installed here"
        return None
    return keras if keras.backend.backend() == "torch" else None


def _step(module: Callable, x: torch.Tensor, mode: str, parameters: list) -> Callable[[], None]:
    if mode == "inference":
        def run():
            with torch.no_grad():
                module(x)
        return run

    def run():
        for parameter in parameters:
            parameter.grad = None
        x.grad = None
        output = module(x)
        output.sum().backward()
    return run


def build_runner(name: str, cell: str, batch: int, steps: int, hidden: int, mode: str,
                 device: str, keras) -> Callable[[], None] | None:
    """A no-argument callable that runs one step, or ``None`` when the runner does not apply."""
    flexible = name.startswith("flex_")
    if flexible and cell != "lstm":
        return None
    base = name.removeprefix("flex_")
    requires_grad = mode == "train"
    if base == "keras":
        if keras is None or device != "cpu":
            return None
        options = {"recurrent_activation": "hard_sigmoid", "recurrent_dropout": 0.25} \
            if flexible else {}
        layer = getattr(keras.layers, KERAS_LAYERS[cell])(hidden, return_sequences=True,
                                                          **options)
        layer.build((batch, steps, hidden))
        x = torch.randn(batch, steps, hidden, requires_grad=requires_grad)
        parameters = [v.value for v in layer.trainable_variables]
        training = mode == "train"
        return _step(lambda inputs: layer(inputs, training=training), x, mode, parameters)
    if base == "torch.nn":
        module = TORCH_LAYERS[cell](hidden, hidden, device=device)
    else:
        module = OUR_LAYERS[cell](hidden, hidden, impl=base, device=device,
                                  **(FLEX if flexible else {}))
    module.train(mode == "train")
    x = torch.randn(steps, batch, hidden, device=device, requires_grad=requires_grad)
    return _step(lambda inputs: module(inputs)[0], x, mode, list(module.parameters()))


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_runners(runners: dict[str, Callable], repeats: int, device: str) -> dict[str, float]:
    """Median seconds per runner over interleaved rounds, after a warm-up call each.

    At least ``repeats`` rounds; quick configurations get more (up to 8x), so that each
    runner is timed for about a second in all: medians of small timings need more samples.
    """
    for run in runners.values():
        run()
    _sync(device)
    start = time.perf_counter()
    next(iter(runners.values()))()
    _sync(device)
    first = time.perf_counter() - start
    repeats = max(repeats, min(8 * repeats, int(1.0 / max(first, 1e-6))))
    samples = {name: [] for name in runners}
    names = list(runners)
    for round_index in range(repeats):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in order:
            _sync(device)
            start = time.perf_counter()
            runners[name]()
            _sync(device)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def peak_memory(run: Callable[[], None], device: str) -> float:
    """Peak bytes allocated above the starting level during one call of ``run``."""
    if device == "cuda":
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - start
    from torch.profiler import ProfilerActivity, profile

    # Profile the second of two calls: the first one's records also hold the frees of blocks
    # allocated before profiling began (last step's gradients), which skews its running sum.
    for _ in range(2):
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            run()
    # Each op's own (self) allocations net of its frees, and the "[memory]" events outside
    # ops, in start order: the running sum is the live memory to within one op's temporaries.
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    level = peak = 0
    for event in events:
        level += event.self_cpu_memory_usage
        peak = max(peak, level)
    return float(peak)


def matmul_gflops(device: str, size: int = 2048, repeats: int = 5) -> float:
    """This machine's large-matmul speed: median GFLOP/s of a ``size``² float32 matmul."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    out = torch.empty(size, size, device=device)
    torch.mm(a, b, out=out)
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        _sync(device)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def lstm_train_flops(batch: int, steps: int, hidden: int) -> float:
    """Matmul FLOPs of an LSTM training step (input = hidden): forward W_ih x and W_hh h,
    backward d x, d W_ih, d h and d W_hh — three times the forward's."""
    return 3 * 2 * steps * batch * 4 * hidden * (hidden + hidden)


def _machine(device: str) -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}"
    if device == "cuda":
        text += f"; GPU {torch.cuda.get_device_name()}"
    return text


def run_grid(args, keras) -> tuple[list[dict], float]:
    rows = []
    gflops = matmul_gflops(args.device)
    print(f"large matmul: {gflops:.1f} GFLOP/s", flush=True)
    for cell in args.cells:
        for batch in args.batch:
            for steps in args.steps:
                for hidden in args.hidden:
                    for mode in args.modes:
                        rows.append(run_config(args, keras, cell, batch, steps, hidden, mode))
    return rows, gflops


def run_config(args, keras, cell, batch, steps, hidden, mode) -> dict:
    names = [n for n in TIMED if not (n.endswith("keras") and not _keras_fits(
        args, batch, steps, hidden))]
    runners = {}
    for name in names:
        runner = build_runner(name, cell, batch, steps, hidden, mode, args.device, keras)
        if runner is not None:
            runners[name] = runner
    medians = time_runners(runners, args.repeats, args.device)
    config = OUR_LAYERS[cell](hidden, hidden).config
    row = {"cell": cell, "B": batch, "T": steps, "H": hidden, "mode": mode, "time": medians,
           "auto": choose_impl(config, "auto", False, args.device, mode == "train",
                                   batch)}
    if mode == "train" and not args.no_memory:
        row["memory"] = {name: peak_memory(run, args.device) for name, run in runners.items()
                         if not name.endswith("keras")}
    base = medians["torch.nn"]
    summary = " ".join(f"{n} {t / base:.2f}" for n, t in medians.items() if n != "torch.nn")
    print(f"{cell} B={batch} T={steps} H={hidden} {mode}: torch.nn {base * 1e3:.1f} ms | "
          f"{summary}", flush=True)
    return row


def _keras_fits(args, batch, steps, hidden) -> bool:
    return batch * steps * hidden * hidden <= args.keras_max_work


def _ratio(row, name):
    value = row["time"].get(name)
    return None if value is None else value / row["time"]["torch.nn"]


def _fmt(value, digits=2):
    return "–" if value is None else f"{value:.{digits}f}"


def table(rows) -> list[str]:
    header = ("| cell | B | T | H | mode | torch.nn ms | auto | native | bptt | reference | keras "
              "| flex bptt | flex ref | flex keras | mem native | mem bptt | mem flex bptt |")
    lines = [header, "|" + "---|" * 17]
    for row in rows:
        memory = row.get("memory", {})

        def mem(name, memory=memory):
            if not memory.get("torch.nn") or name not in memory:
                return None
            return memory[name] / memory["torch.nn"]

        lines.append(
            f"| {row['cell']} | {row['B']} | {row['T']} | {row['H']} | {row['mode']} | "
            f"{row['time']['torch.nn'] * 1e3:.1f} | {_fmt(_ratio(row, row['auto']))} | "
            + " | ".join(_fmt(_ratio(row, n)) for n in TIMED[1:])
            + f" | {_fmt(mem('native'))} | {_fmt(mem('bptt'))} | {_fmt(mem('flex_bptt'))} |"
        )
    return lines


def _worst(rows, name, predicate):
    values = [_ratio(r, name if name != "auto" else r["auto"]) for r in rows if predicate(r)]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def targets(rows, gflops) -> list[str]:
    """The issue's targets: (target, measured, met)."""
    train = [r for r in rows if r["mode"] == "train"]
    results = []

    def add(text, measured, limit, lower_is_better=True):
        if measured is None:
            results.append((text, "not measured", "–"))
            return
        met = measured <= limit if lower_is_better else measured >= limit
        results.append((text, f"{measured:.2f}", "met" if met else "missed"))

    add("LSTM auto ≤ 1.05× torch.nn (train, all sizes)",
        _worst(train, "auto", lambda r: r["cell"] == "lstm"), 1.05)
    for cell in ("gru", "rnn"):
        add(f"{cell.upper()} auto ≤ 1.0× torch.nn (train, all sizes)",
            _worst(train, "auto", lambda r, c=cell: r["cell"] == c), 1.0)
        add(f"{cell.upper()} auto ≤ 0.5× torch.nn at B=1 (train)",
            _worst(train, "auto", lambda r, c=cell: r["cell"] == c and r["B"] == 1), 0.5)
    add("LSTM bptt ≤ 1.3× at B≥32, H=512",
        _worst(train, "bptt", lambda r: r["cell"] == "lstm" and r["B"] >= 32 and r["H"] == 512),
        1.3)
    add("LSTM bptt ≤ 1.6× at B≥32, H=128",
        _worst(train, "bptt", lambda r: r["cell"] == "lstm" and r["B"] >= 32 and r["H"] == 128),
        1.6)
    b1 = _worst(train, "bptt", lambda r: r["cell"] == "lstm" and r["B"] == 1)
    results.append(("LSTM bptt at B=1 (report; worst)", _fmt(b1), "–"))
    add("flexible LSTM bptt ≤ 1.5× torch.nn LSTM at B≥32, H=512",
        _worst(train, "flex_bptt",
               lambda r: r["cell"] == "lstm" and r["B"] >= 32 and r["H"] == 512), 1.5)
    add("flexible LSTM bptt ≤ 2× torch.nn LSTM at B≥32, H=128",
        _worst(train, "flex_bptt",
               lambda r: r["cell"] == "lstm" and r["B"] >= 32 and r["H"] == 128), 2.0)
    speedups = [r["time"]["flex_keras"] / r["time"]["flex_bptt"] for r in train
                if "flex_keras" in r["time"] and "flex_bptt" in r["time"]]
    add("flexible LSTM bptt ≥ 3× faster than Keras (median over the grid it ran on)",
        statistics.median(speedups) if speedups else None, 3.0, lower_is_better=False)
    standard_memory = [r["memory"][r["auto"]] / r["memory"]["torch.nn"] for r in train
                       if "memory" in r and r["memory"].get("torch.nn")
                       and r["auto"] in r["memory"]]
    add("peak memory of a train step, auto ≤ 1.2× torch.nn (worst)",
        max(standard_memory) if standard_memory else None, 1.2)
    bptt_memory = [r["memory"]["bptt"] / r["memory"]["torch.nn"] for r in train
                   if "memory" in r and r["memory"].get("torch.nn") and "bptt" in r["memory"]]
    add("peak memory of a train step, bptt ≤ 1.2× torch.nn (worst)",
        max(bptt_memory) if bptt_memory else None, 1.2)
    big = [r for r in train if r["cell"] == "lstm" and (r["B"], r["T"], r["H"]) == (32, 200, 512)]
    if big:
        achieved = lstm_train_flops(32, 200, 512) / big[0]["time"]["bptt"] / 1e9
        add(f"bptt at B=32, T=200, H=512 ≥ 80% of large-matmul speed "
            f"({achieved:.1f} of {gflops:.1f} GFLOP/s)", achieved / gflops, 0.8,
            lower_is_better=False)
    else:
        results.append(("bptt ≥ 80% of matmul speed at B=32, T=200, H=512", "not in grid", "–"))
    return [f"| {t} | {m} | {s} |" for t, m, s in results]


def write_results(args, rows, gflops, keras, elapsed, load) -> Path:
    name = "layers_cuda.md" if args.device == "cuda" else "layers.md"
    path = Path(args.output) if args.output else ROOT / "benchmarks" / "results" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    malloc_settings = [f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("MALLOC_")]
    command = " ".join([*malloc_settings, "python benchmarks/bench_layers.py", *sys.argv[1:]])
    keras_version = getattr(keras, "__version__", None) if keras else "not installed"
    lines = [
        f"# Recurrent layers benchmark ({args.device})",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='minutes')}",
        f"- command: `{command.strip()}` ({elapsed / 60:.1f} min)",
        f"- machine: {_machine(args.device)}",
        (f"- versions: python {platform.python_version()}, torch {torch.__version__}, "
         f"keras {keras_version}"),
        f"- large-matmul speed (2048² float32, same run): {gflops:.1f} GFLOP/s",
        (f"- medians of ≥ {args.repeats} interleaved rounds after a warm-up call; ratios are "
         "time (or peak memory) / torch.nn's in the same run; `auto` is the kernel "
         "`impl=\"auto\"` picks; float32, input = hidden, one layer, one direction"),
        ("- flexible LSTM (`flex`): recurrent_activation=hard_sigmoid, layer_norm, "
         "recurrent_dropout=0.25; Keras has no layer norm in its LSTM, so `flex keras` runs "
         "hard_sigmoid + recurrent_dropout only"),
        (f"- keras runs only where B·T·H² ≤ {args.keras_max_work:,} (its loop is slow); "
         "'–' marks a runner that did not run"),
        "- peak memory: " + ("torch.cuda.max_memory_allocated above the level before the step"
                             if args.device == "cuda" else
                             "running sum of the torch profiler's per-op net allocations during "
                             "one train step (the second of two profiled), in start order (peak above "
                             "the level before it)"),
    ]
    lines.append(f"- load average (1 min) at the start and the end of the run: {load[0]:.2f}, "
                 f"{load[1]:.2f} (the run itself adds about 1; more means other processes "
                 "shared the CPU, and single numbers are noisier)")
    lines += ["", "## Targets", "", "| target | measured | status |", "|---|---|---|"]
    lines += targets(rows, gflops)
    lines += ["", "## All results", ""] + table(rows) + [""]
    path.write_text("\n".join(lines))
    return path


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"],
                        choices=["rnn", "lstm", "gru"])
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 32, 128])
    parser.add_argument("--steps", nargs="+", type=int, default=[50, 200])
    parser.add_argument("--hidden", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--modes", nargs="+", default=["inference", "train"],
                        choices=["inference", "train"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's own choice); on a CPU "
                             "shared with other busy processes, 1 avoids multi-threaded "
                             "matmuls stalling at their barriers for whole time slices")
    parser.add_argument("--keras-max-work", type=int, default=32 * 200 * 128 * 128,
                        help="run keras only where B*T*H*H is at most this")
    parser.add_argument("--no-keras", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--output", default=None, help="results file (default: results/)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    keras = None if args.no_keras else _keras()
    start, load_before = time.perf_counter(), os.getloadavg()[0]
    rows, gflops = run_grid(args, keras)
    path = write_results(args, rows, gflops, keras, time.perf_counter() - start,
                         (load_before, os.getloadavg()[0]))
    print("\n".join(["", "target | measured | status"] + targets(rows, gflops)))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

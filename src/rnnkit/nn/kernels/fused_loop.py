"""The bptt kernel's time loops, compiled: the vanilla RNN and the GRU at small batch, and the
LSTM (with or without layer norm and recurrent dropout) at any batch.

A step of the Python loop is ~10–25 torch calls, each a few µs of dispatch whatever its size.
At batch 1 that is the whole cost of a GRU/RNN step: torch.nn's own GRU/RNN on CPU is the same
kind of loop, so the bptt kernel only beat it by ~2× there (``benchmarks/results/layers.md``,
run F: 0.46–0.68). ``fused_loop.cpp`` writes each step out as plain loops — for the RNN and the
GRU the product ``W_hh h`` too, four weight rows at a time (a throwaway C++ timing, not kept,
had it faster than torch's ``mv`` at these sizes; run G in ``benchmarks/RESULTS.md`` has the
end-to-end figures). The LSTM's loop leaves its products to torch (GEMMs over the batch)
except at B ≤ :data:`LSTM_HAND_PRODUCT_MAX_BATCH`, and fuses everything between them: the norms
of ``W_hh h`` and of the cell, the gates, the cell update, the recurrent-dropout mask; its
backward also sums the gains' and ``W_hh``'s gradients through the norm as it goes. The
flexible LSTM's train step (hard_sigmoid, layer norm, recurrent dropout 0.25) over
torch.nn.LSTM's, Python loop → compiled (``python benchmarks/bench_kernel_ab.py --base 4eddaf7
--cell lstm --flex --sizes 32,200,128 32,50,128 128,200,128 128,50,128 --rounds 5``, one
thread, 2026-11-30): B=32, T=200, H=128: 1.57 → 1.12; B=32, T=50: 1.99 → 1.44; B=128, T=200:
1.63 → 1.32; B=128, T=50: 1.25 → 1.02.

What each serves (:func:`serves`): float32 or float64 on CPU, variable lengths, no zoneout,
no peephole, no projection; built-in activations. RNN (tanh or relu) and GRU (sigmoid/tanh, both reset forms):
no layer norm on ``W_hh h`` and no recurrent dropout, at most :data:`MAX_BATCH` sequences.
LSTM: tanh, a recurrent activation in :data:`GATE_KINDS`, layer norm and recurrent dropout
allowed, ``W_hh`` under :data:`LSTM_MAX_WEIGHT` elements. The products over all steps (the input
projection and its gradients, ``W_hh``'s gradient without layer norm) stay with torch, as in the
Python loop. The float32 exponential is a polynomial (``exp_of`` in the source) so the loops
vectorise; float64 keeps the C library's.

The extension is compiled on first use with ``torch.utils.cpp_extension`` (a C++ compiler and
ninja; about 30 s, once per machine and version, under ``$XDG_CACHE_HOME/rnnkit``). Without
them — or with ``RNNKIT_NO_COMPILE=1`` — the kernel warns once and runs its Python loop.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import threading
import warnings
from pathlib import Path
from types import ModuleType

import torch

from rnnkit.nn.activations import builtin_name
from rnnkit.nn.config import CellConfig

MAX_BATCH = 8
"""Largest batch the RNN's and GRU's compiled loops serve (the LSTM's: any). Their product reads ``W_hh`` once a step but is no
GEMM kernel: from 16 rows torch's batched products catch up. Train step, bptt with the compiled
loops → the Python loop, ratio to torch.nn at T = 50 (``python benchmarks/bench_layers.py
--cells rnn gru --batch 4 8 16 32 --steps 50 --hidden 128 512 --modes train inference
--repeats 5 --threads 1 --no-keras --no-memory``, with ``MAX_BATCH = 64`` and then with
``RNNKIT_NO_COMPILE=1``, one thread,
2026-11-30; the other core busy): B = 8: RNN H=128 0.68 → 0.80, H=512 0.78 → 0.85; GRU 0.58 →
0.72, 0.75 → 0.79. B = 16: RNN 0.84 / 0.85, 0.93 / 0.90; GRU 0.79 / 0.78, 0.92 / 0.84.
B = 32: RNN 1.04 / 0.87, 1.05 / 0.91; GRU 0.99 / 0.84, 0.96 / 0.86."""

_SOURCE = Path(__file__).with_name("fused_loop.cpp")
_FLAGS = ["-O3", "-march=native", "-fopenmp-simd", "-fno-trapping-math", "-fno-math-errno"]
_NAME = "rnnkit_fused_loop"
_DISABLE = "RNNKIT_NO_COMPILE"
_loaded: dict[str, ModuleType | None] = {}
_reason: list[str] = []
_loading = threading.Lock()  # one build, even when several threads ask first


def _cpu_signature() -> bytes:
    """The CPU's instruction-set flags (Linux) or its architecture: ``-march=native`` builds
    for this CPU, so a home directory shared with another machine must not share the build."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(("flags", "Features")):
                    return line.encode()
    except OSError:
        pass
    return platform.machine().encode()


def _build_directory() -> Path:
    """One folder per source, flags, torch version and CPU, so nothing loads a stale build."""
    key = hashlib.sha256(_SOURCE.read_bytes() + " ".join(_FLAGS).encode()
                         + torch.__version__.encode() + _cpu_signature()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "rnnkit" / f"{_NAME}-{key}"


def _load() -> ModuleType | None:
    if os.environ.get(_DISABLE, "") not in ("", "0"):
        _reason.append(f"{_DISABLE} is set")
        return None
    try:
        from torch.utils.cpp_extension import load

        directory = _build_directory()
        if not (directory / f"{_NAME}.so").exists():
            print("rnnkit: compiling the recurrent time loops (once, about 30 s)…",
                  file=sys.stderr, flush=True)
        directory.mkdir(parents=True, exist_ok=True)
        return load(name=_NAME, sources=[str(_SOURCE)], extra_cflags=_FLAGS,
                    build_directory=str(directory), verbose=False)
    except (RuntimeError, OSError, ImportError) as error:  # no compiler or ninja, a failed build
        last_line = (str(error).strip().splitlines() or [""])[-1]
        _reason.append(f"{type(error).__name__}: {last_line}")
        warnings.warn(
            "rnnkit: the compiled recurrent time loops could not be built "
            f"({_reason[-1]}); the bptt kernel runs its slower Python loop. "
            f"Set {_DISABLE}=1 to skip the attempt.", RuntimeWarning, stacklevel=3)
        return None


def module() -> ModuleType | None:
    """The compiled extension, built or loaded on the first call; ``None`` when unavailable."""
    if "module" not in _loaded:
        with _loading:
            if "module" not in _loaded:
                _loaded["module"] = _load()
    return _loaded["module"]


def unavailable_reason() -> str | None:
    """Why :func:`module` is ``None`` (after it was asked), else ``None``."""
    return _reason[-1] if module() is None else None


LSTM_HAND_PRODUCT_MAX_BATCH = 2
"""Up to this batch the LSTM's loop multiplies by ``W_hh`` with its own product (as the RNN's
and GRU's), above it with torch's GEMM. ``python benchmarks/bench_layers.py --cells lstm
--batch 1 8 --steps 50 200 --hidden 128 --modes train inference --threads 1 --no-keras
--no-memory`` and the same with ``--batch 2 4 --steps 50`` (09:45–09:52, 2026-11-30, one
thread), each with the hand product at every batch ≤ 8 and then without, bptt over
torch.nn.LSTM, hand → torch's product: train B=1 0.96 → 1.09 (T=200 1.09 → 1.32), B=2 1.08
→ 1.32, B=4 1.21 → 1.23, B=8 1.34 → 1.20; inference B=1 1.11 → 1.23, B=2 1.29 → 1.64, B=4
1.51 → 1.36, B=8 1.77 → 1.27."""

GATE_KINDS = {"sigmoid": 0, "hard_sigmoid": 1, "hard_sigmoid_v2": 2}
"""The LSTM's recurrent activations the compiled loop computes, by its code there."""

LSTM_MAX_WEIGHT = 512 * 512
"""The LSTM's compiled loop serves a ``W_hh`` of fewer elements (H < 256): from there the
Python loop's products are packed (``products.packs``) and, with layer norm, ``W_hh``'s
gradient gathered in chunks, which the compiled loop does not do."""


def serves(cell: CellConfig, device_type: str, dtype: torch.dtype, batch_size: int, *,
           masked: bool, zoneout: bool, norm_hh: bool) -> bool:
    """Whether the compiled loops run a direction of ``batch_size`` sequences (variable
    lengths or not). ``masked``: a recurrent-dropout mask on ``h``; ``zoneout``: zoneout in
    training; ``norm_hh``: layer norm on ``W_hh h``. Asking compiles the extension the first
    time a call could use it."""
    if zoneout or device_type != "cpu" or dtype not in (torch.float32, torch.float64):
        return False
    activation = builtin_name(cell.activation)
    if cell.kind == "lstm":
        fits = (activation == "tanh" and cell.proj_size == 0 and not cell.peephole
                and builtin_name(cell.recurrent_activation) in GATE_KINDS
                and 4 * cell.hidden_size * cell.hidden_size < LSTM_MAX_WEIGHT)
    elif masked or norm_hh or batch_size > MAX_BATCH:
        fits = False
    elif cell.kind == "rnn":
        fits = activation in ("tanh", "relu")
    else:
        fits = activation == "tanh" and builtin_name(cell.recurrent_activation) == "sigmoid"
    return fits and module() is not None

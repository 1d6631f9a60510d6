"""The bptt kernel's time loops for the vanilla RNN and the GRU at small batch, compiled.

At batch 1 a step of these cells is a few thousand multiply-adds, and the Python loop's cost is
the ~10 torch calls a step makes (each a few µs of dispatch, whatever the size), not the
arithmetic: torch.nn's own GRU/RNN on CPU is the same kind of loop, so the bptt kernel only
beat it by ~2× there (``benchmarks/results/layers.md``, run F: 0.46–0.68). ``fused_loop.cpp``
writes each step out as plain loops — the product ``W_hh h`` four weight rows at a time, the
gate equations element by element — so a step costs its arithmetic. Its plain loops beat torch's
``mv`` itself at these sizes (one thread, µs, ``W (M, K) · x`` in C++, 2026-11-30): 128 × 128:
0.9 against 2.9; 384 × 128: 2.7 / 5.4; 512 × 512: 12.4 / 23.1; 1536 × 512: 44 / 66.

It serves the configurations whose loop has nothing else in it: no layer norm on ``W_hh h``,
no recurrent dropout, no zoneout, no variable lengths; built-in activations (RNN tanh or relu;
GRU sigmoid and tanh, both reset forms); float32 or float64 on CPU; at most
:data:`MAX_BATCH` sequences. The products over all steps (``dW_hh``, the input projection and
its gradients) stay with torch, as in the Python loop.

The extension is compiled on first use with ``torch.utils.cpp_extension`` (a C++ compiler and
ninja; about 30 s, once per machine and version, under ``$XDG_CACHE_HOME/rnnkit``). Without
them — or with ``RNNKIT_NO_COMPILE=1`` — the kernel warns once and runs its Python loop.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType

import torch

from rnnkit.nn.activations import builtin_name
from rnnkit.nn.config import CellConfig

MAX_BATCH = 8
"""Largest batch the compiled loops serve. Their product reads ``W_hh`` once a step but is no
GEMM kernel: from 16 rows torch's batched products catch up. Train step, bptt with the compiled
loops → the Python loop, ratio to torch.nn at T = 50 (``python benchmarks/bench_layers.py
--cells rnn gru --batch 4 8 16 32 --steps 50 --hidden 128 512 --modes train --threads 1
--no-keras --no-memory``, with ``MAX_BATCH = 64`` and then ``RNNKIT_NO_COMPILE=1``, one thread,
2026-11-30; the other core busy): B = 8: RNN H=128 0.68 → 0.80, H=512 0.78 → 0.85; GRU 0.58 →
0.72, 0.75 → 0.79. B = 16: RNN 0.84 / 0.85, 0.93 / 0.90; GRU 0.79 / 0.78, 0.92 / 0.84.
B = 32: RNN 1.04 / 0.87, 1.05 / 0.91; GRU 0.99 / 0.84, 0.96 / 0.86."""

_SOURCE = Path(__file__).with_name("fused_loop.cpp")
_FLAGS = ["-O3", "-march=native", "-fopenmp-simd"]
_NAME = "rnnkit_fused_loop"
_DISABLE = "RNNKIT_NO_COMPILE"
_loaded: dict[str, ModuleType | None] = {}
_reason: list[str] = []


def _build_directory() -> Path:
    """One folder per source, flags and torch version, so a change never loads a stale build."""
    key = hashlib.sha256(_SOURCE.read_bytes() + " ".join(_FLAGS).encode()
                         + torch.__version__.encode()).hexdigest()[:16]
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
            print("rnnkit: compiling the fused RNN/GRU time loops (once, about 30 s)…",
                  file=sys.stderr, flush=True)
        directory.mkdir(parents=True, exist_ok=True)
        return load(name=_NAME, sources=[str(_SOURCE)], extra_cflags=_FLAGS,
                    build_directory=str(directory), verbose=False)
    except (RuntimeError, OSError, ImportError) as error:  # no compiler or ninja, a failed build
        last_line = (str(error).strip().splitlines() or [""])[-1]
        _reason.append(f"{type(error).__name__}: {last_line}")
        warnings.warn(
            "rnnkit: the fused RNN/GRU time loops could not be compiled "
            f"({_reason[-1]}); small-batch GRU/RNN layers run the slower Python loop. "
            f"Set {_DISABLE}=1 to skip the attempt.", RuntimeWarning, stacklevel=3)
        return None


def module() -> ModuleType | None:
    """The compiled extension, built or loaded on the first call; ``None`` when unavailable."""
    if "module" not in _loaded:
        _loaded["module"] = _load()
    return _loaded["module"]


def unavailable_reason() -> str | None:
    """Why :func:`module` is ``None`` (after it was asked), else ``None``."""
    return _reason[-1] if module() is None else None


def serves(cell: CellConfig, device_type: str, dtype: torch.dtype, batch_size: int,
           simple: bool) -> bool:
    """Whether the compiled loops run a direction of ``batch_size`` sequences: ``simple`` says
    its pass has no recurrent mask, no keep weights (zoneout, lengths) and no layer norm on
    ``W_hh h``. Asking compiles the extension the first time a call could use it."""
    if not simple or device_type != "cpu" or batch_size > MAX_BATCH:
        return False
    if dtype not in (torch.float32, torch.float64):
        return False
    activation = builtin_name(cell.activation)
    if cell.kind == "rnn":
        fits = activation in ("tanh", "relu")
    elif cell.kind == "gru":
        fits = activation == "tanh" and builtin_name(cell.recurrent_activation) == "sigmoid"
    else:
        fits = False
    return fits and module() is not None

"""The bptt kernel's time loops, compiled: the vanilla RNN and the GRU at small batch, and the
LSTM (with or without layer norm and recurrent dropout).

A step of the Python loop is ~10–25 torch calls, each a few µs of dispatch whatever its size;
at small batch that is the whole cost of a step. ``fused_loop.cpp`` writes each step out as
plain loops — for the RNN and the GRU the product ``W_hh h`` too, four weight rows at a time.
The LSTM's loop leaves its products to torch (GEMMs over the batch) except at small batch
(``dispatch.lstm_hand_product``), and fuses everything between them: the norms of ``W_hh h``
and of the cell, the gates, the cell update, the recurrent-dropout mask; its backward also
sums the gains' and ``W_hh``'s gradients through the norm as it goes. The products over all
steps (the input projection and its gradients, ``W_hh``'s gradient without layer norm) stay
with torch, as in the Python loop. The float32 exponential is a polynomial (``exp_of`` in the
source) so the loops vectorise; float64 keeps the C library's. What the loops serve is
``dispatch.compiled_loops_serve``; the measurements are in ``benchmarks/RESULTS.md`` ("run G —
compiled time loops", and "Dispatch rules: the measurements behind each threshold").

The extension is compiled on first use with ``torch.utils.cpp_extension`` (a C++ compiler and
ninja, which rnnkit depends on; about 30 s) into a folder under ``$XDG_CACHE_HOME/rnnkit`` named
by :func:`build_key`: one build per source text, flags, torch installation and CPU, shared by
every checkout whose source is the same. Without them — or with ``RNNKIT_NO_COMPILE=1`` — the
kernel warns once and runs its Python loop.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import threading
import warnings
from pathlib import Path
from types import ModuleType

import torch

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


def build_key(source: bytes) -> str:
    """The build folder's key for the C++ text ``source``: a hash of it, the flags, torch's
    version and installation folder, and the CPU, so nothing loads a stale build.

    The source's path is not in the key, its content is: two checkouts of the same source share
    one build, and a changed source gets a folder of its own. The torch folder is in it because
    the build's commands name torch's headers there; two environments each keep their build
    instead of rebuilding each other's.
    """
    parts = [source, " ".join(_FLAGS).encode(), torch.__version__.encode(),
             str(Path(torch.__file__).resolve().parent).encode(), _cpu_signature()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def _build_directory(source: bytes) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "rnnkit" / f"{_NAME}-{build_key(source)}"


def staged_source() -> Path:
    """``fused_loop.cpp`` copied into its build folder, the path the build compiles.

    The build's commands (ninja's ``build.ninja``) name the source by its path, and ninja
    rebuilds when a command changes: compiling each checkout's own file would make two
    checkouts of one source rebuild each other's build on every switch. The copy's path is
    the same for every checkout of the same source.
    """
    source = _SOURCE.read_bytes()
    directory = _build_directory(source)
    staged = directory / _SOURCE.name
    if not staged.is_file() or staged.read_bytes() != source:
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / f"{_SOURCE.name}.{os.getpid()}.partial"
        partial.write_bytes(source)
        os.replace(partial, staged)  # another process building at once reads a whole file
    return staged


def ninja_on_path() -> None:
    """Put the ``ninja`` package's executable on ``PATH`` when no ninja is there: torch's
    builder runs ``ninja`` by name, and a virtual environment used without activating it
    (``.venv/bin/rnnkit``) has its ninja off ``PATH``."""
    if shutil.which("ninja") is not None:
        return
    try:
        import ninja
    except ImportError:
        return
    os.environ["PATH"] = os.pathsep.join([ninja.BIN_DIR, os.environ.get("PATH", "")])


def _load() -> ModuleType | None:
    if os.environ.get(_DISABLE, "") not in ("", "0"):
        _reason.append(f"{_DISABLE} is set")
        return None
    try:
        from torch.utils.cpp_extension import load

        ninja_on_path()
        source = staged_source()
        if not (source.parent / f"{_NAME}.so").exists():
            print("rnnkit: compiling the recurrent time loops (once, about 30 s)…",
                  file=sys.stderr, flush=True)
        return load(name=_NAME, sources=[str(source)], extra_cflags=_FLAGS,
                    build_directory=str(source.parent), verbose=False)
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


GATE_KINDS = {"sigmoid": 0, "hard_sigmoid": 1, "hard_sigmoid_v2": 2}
"""The LSTM's recurrent activations the compiled loop computes, by its code there."""

"""glibc's allocator, set for a training process: freed tensors' memory is reused, not unmapped.

By default glibc serves a large allocation with fresh pages (above its mmap threshold, which
moves between 128 kB and 32 MB) and hands the heap's free top back to the system (above its trim
threshold). A training step frees and allocates the same large tensors every time (the recipe of
issue 25: a 28 MB logits buffer, 8 MB gradients), so each step faulted in about 1,800 to 2,900
zeroed pages; with both thresholds raised it faults in a few dozen and ran ~2 % faster
(``benchmarks/bench_malloc.py``; RESULTS, "Whole run against word_language_model"). The cost:
the process's resident memory stays near its peak until it ends. The command line sets this for
its own process only, and not when the environment already tunes malloc (``MALLOC_*``, or
``GLIBC_TUNABLES`` naming ``malloc``) or the C library is not glibc. Under another allocator
loaded by ``LD_PRELOAD`` (jemalloc, tcmalloc) glibc's ``mallopt`` still answers but changes
nothing that allocator does.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""``mallopt`` parameters, from glibc's ``malloc.h``."""

MMAP_THRESHOLDS = (256 << 20, 32 << 20)
"""Allocations below the first that glibc accepts come from the heap, whose freed memory the
next step reuses; glibc before 2.35 (or so) refuses more than 32 MB on 64-bit systems."""

TRIM_THRESHOLD = 512 << 20
"""The heap's free top is handed back to the system only above 512 MB."""


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True when both were set."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "malloc" in tunables or any(name.startswith("MALLOC_") for name in os.environ):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    mmap_set = any(mallopt(M_MMAP_THRESHOLD, size) for size in MMAP_THRESHOLDS)
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and mmap_set

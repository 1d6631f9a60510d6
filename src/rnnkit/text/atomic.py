"""Atomic file output: a failure part-way leaves no partial file behind.

The lowest layer owns it so that both ``rnnkit.text`` (vocabularies) and ``rnnkit.data``
(prepared corpora) write the same way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, else vanishes.

    The temporary file sits in the same directory so that ``os.replace`` is a rename, never a
    copy across file systems. The result gets the permissions a plain ``open`` would give
    (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.
    """
    target = Path(path)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask

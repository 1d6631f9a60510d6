"""Atomic file output: a failure part-way leaves no partial file behind.

The lowest layer owns it so that both ``rnnkit.text`` (vocabularies) and ``rnnkit.data``
(prepared corpora) write the same way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""The errors of a write that ran out of room (device, quota, file-size limit)."""

_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
"""The names :func:`atomic_path` gives its temporaries (``mkstemp``'s eight random letters)."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, else vanishes.

    The temporary file sits in the same directory so that ``os.replace`` is a rename, never a
    copy across file systems. The result gets the permissions a plain ``open`` would give
    (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``. A write that runs out of
    room (:data:`DISK_FULL`) is re-raised as one ``OSError`` that names the file and says that
    its previous version is untouched. Only a process killed mid-write leaves its temporary;
    :func:`remove_stale_temporaries` clears those.
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
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            kept = f"the previous {target.name} is kept" if target.exists() else "nothing written"
            raise OSError(error.errno, f"could not write {target}: {error.strerror} "
                                       f"({kept})") from error
        raise


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporaries that :func:`atomic_path` left under ``directory`` (at any depth)
    when its process was killed mid-write; returns what was deleted.

    Only call it while no other process writes there (e.g. holding the directory's lock): a
    live writer's temporary looks the same.
    """
    stale = [path for path in Path(directory).rglob(".*.tmp")
             if _TEMPORARY.match(path.name) and path.is_file()]
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return stale


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask

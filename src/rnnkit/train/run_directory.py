"""The output directory of a training run: one run at a time, and nothing of the user's lost.

:func:`claim_run_directory` wraps a run that writes into ``--out DIR``:

- a new run needs DIR new or empty. An rnnkit model directory in DIR is refused unless
  ``overwrite``, which deletes its files (any file a model directory does not hold refuses
  even then); any other content is refused;
- DIR may not be one of the run's input files, nor hold one;
- one run at a time: an exclusive ``flock`` on ``DIR/.rnnkit.lock``. The OS drops it when the
  process dies, so a crashed or killed run leaves no stuck lock;
- temporaries of atomic writes left by a run killed mid-write are deleted (under the lock,
  where no other writer can own them);
- a new run that fails removes what it created, except when it stopped with a checkpoint that
  ``--resume`` continues (:data:`KEEPS_CHECKPOINT`: interrupted, out of disk space, diverged;
  each says so). A run of several processes (torchrun) keeps its checkpoint whatever ended
  it, since a process that dies shows in the others as an error of their collectives. A
  resumed run never removes anything;
- SIGTERM raises ``KeyboardInterrupt`` while the directory is claimed (in the main thread), so
  a terminated run cleans up or keeps its checkpoint exactly as Ctrl-C does.

Refusals raise :class:`RunDirectoryError` with one line naming ``--out``, the directory and
what to do instead. POSIX only (``fcntl``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import threading
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

from rnnkit.text.atomic import remove_stale_temporaries
from rnnkit.train import distributed
from rnnkit.train.model_dir import CONFIG_FILE, FORMAT, MODEL_FILES, STATE_FILE
from rnnkit.train.trainer import OutOfSpace, TrainingDiverged

LOCK_FILE = ".rnnkit.lock"
KEEPS_CHECKPOINT = (KeyboardInterrupt, OutOfSpace, TrainingDiverged)
"""How a new run may fail and still keep its directory, when it holds a checkpoint."""
_SHOWN = 3  # names of foreign files a refusal lists


class RunDirectoryError(ValueError):
    """``--out`` refused: the directory is in use, holds other files, or holds an input."""


@contextlib.contextmanager
def claim_run_directory(
    out: str | os.PathLike, *, resume: bool, overwrite: bool = False,
    inputs: Iterable[tuple[str, str | os.PathLike | None]] = (),
    entries: Collection[str] = MODEL_FILES,
) -> Iterator[Path]:
    """Claim ``out`` for one training run for the ``with`` block; yields it as a Path.

    ``resume``: continue the run in ``out`` (it is locked and its stale temporaries are
    deleted; a missing ``out`` is left for the resume to report). ``overwrite``: a new run may
    replace the rnnkit model directory in ``out``. ``inputs``: ``(argument, path)`` pairs of
    the run's input files and directories (``("--data", "train.tsv")``; None is skipped), which
    ``out`` may neither be nor hold. ``entries``: every name a model directory may hold (of
    any task), which ``overwrite`` may delete; any other name is the user's and never is.
    """
    out = Path(out)
    if resume and not out.is_dir():
        yield out
        return
    if not resume:
        _check_inputs(out, inputs)
    if out.exists() and not out.is_dir():
        raise RunDirectoryError(f"--out {out} is a file, not a directory; choose a new "
                                "directory")
    created = next((path for path in reversed([out, *out.parents]) if not path.exists()), None)
    out.mkdir(parents=True, exist_ok=True)
    with _terminate_as_interrupt(), _locked(out):
        remove_stale_temporaries(out)
        if not resume:
            _make_room(out, overwrite, frozenset(entries))
        try:
            yield out
        except BaseException as error:
            keeps = isinstance(error, KEEPS_CHECKPOINT) or distributed.world_size() > 1
            if not resume and not (keeps and (out / STATE_FILE).is_file()):
                _remove_run(out, created)
            raise


def _check_inputs(out: Path, inputs: Iterable[tuple[str, str | os.PathLike | None]]) -> None:
    target = out.resolve()
    for argument, path in inputs:
        if path is None:
            continue
        source = Path(path).resolve()
        if source == target:
            raise RunDirectoryError(f"--out {out} is the {argument} input; choose a new "
                                    "directory")
        if target in source.parents:
            raise RunDirectoryError(f"--out {out} holds the {argument} input {path}; choose a "
                                    "new directory")


def _make_room(out: Path, overwrite: bool, model_entries: frozenset[str]) -> None:
    """Leave ``out`` empty for a new run (but for the lock), or refuse."""
    entries = sorted(entry.name for entry in out.iterdir() if entry.name != LOCK_FILE)
    if not entries:
        return
    if not _is_model_directory(out):
        shown = ", ".join(entries[:_SHOWN]) + (", …" if len(entries) > _SHOWN else "")
        raise RunDirectoryError(f"--out {out} holds files that are not an rnnkit model "
                                f"directory ({shown}); choose an empty or new directory")
    foreign = [name for name in entries if name not in model_entries]
    if foreign:
        shown = ", ".join(foreign[:_SHOWN]) + (", …" if len(foreign) > _SHOWN else "")
        raise RunDirectoryError(f"--out {out} holds an rnnkit model and other files ({shown}), "
                                "which --overwrite never deletes; choose an empty or new "
                                "directory")
    if not overwrite:
        raise RunDirectoryError(f"--out {out} holds an rnnkit model; continue its run with "
                                "--resume, replace it with --overwrite, or choose an empty or "
                                "new directory")
    for name in entries:
        _remove(out / name)


def _is_model_directory(directory: Path) -> bool:
    """Whether ``config.json`` says an rnnkit model."""
    try:
        data = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _remove_run(out: Path, created: Path | None) -> None:
    """Undo a failed new run: the directories it created, else everything but the lock in
    ``out`` (which was empty when the run began)."""
    if created is not None:
        shutil.rmtree(created, ignore_errors=True)
        return
    for entry in out.iterdir():
        if entry.name != LOCK_FILE:
            _remove(entry)


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` or refuse; the lock file goes when released.

    Removing the file on release lets a process that opened it just before wait on a file no
    longer in ``out``; acquiring therefore checks that the locked file is still the one there.
    """
    path = out / LOCK_FILE
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(handle, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(handle)
            raise RunDirectoryError(f"--out {out} is in use by another training (process "
                                    f"{holder}); wait for it to end or choose another "
                                    "directory") from None
        try:
            if os.path.samestat(os.fstat(handle), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(handle)
    try:
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(handle)


def _raise_interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises ``KeyboardInterrupt`` for the block (Python handles signals only in the
    main thread, so elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

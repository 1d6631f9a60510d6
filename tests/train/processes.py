"""Launches of real processes (torchrun and its workers) that end whole: when a launch
finishes, fails, times out or its test is torn down, every process it started is killed.

The launcher runs in a session of its own (``start_new_session``), and its process group is
killed. That is not enough for torchrun: it puts each worker in a session of its own too (to
signal the worker's group), and a worker whose launcher died is no one's child. What every
descendant keeps is the environment, so each launch carries a variable of its own
(:data:`LAUNCH_VARIABLE`) and ending it also kills every process whose environment holds it
(Linux: ``/proc/PID/environ``).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

LAUNCH_VARIABLE = "RNNKIT_TEST_LAUNCH"
POLL_SECONDS = 0.05
KILL_ROUNDS = 40  # a process forked while they are sought is found on a later round


def marked(mark: str) -> list[int]:
    """The processes whose environment holds ``LAUNCH_VARIABLE=mark`` (a zombie's is empty)."""
    entry = f"{LAUNCH_VARIABLE}={mark}".encode()
    found = []
    for folder in Path("/proc").glob("[0-9]*"):
        try:
            if entry in (folder / "environ").read_bytes().split(b"\0"):
                found.append(int(folder.name))
        except OSError:  # gone, or another user's
            continue
    return found


class Launch:
    """A started launch (:func:`launched`): its process, its mark, and the temporary files its
    output goes to, so nothing blocks on a full pipe (read them with :meth:`output`)."""

    def __init__(self, process: subprocess.Popen, mark: str, stdout: IO[str],
                 stderr: IO[str] | None) -> None:
        self.process, self.mark, self._stdout, self._stderr = process, mark, stdout, stderr

    def exited(self) -> bool:
        """Whether the launcher exited, left unreaped so its process group id stays its own."""
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return self.process.returncode is not None or os.waitid(
            os.P_PID, self.process.pid, flags) is not None

    def wait(self, timeout: float) -> int:
        """The launcher's exit status once it exits, every process of the launch killed; if
        it runs past ``timeout`` seconds, the launch is killed and ``TimeoutExpired`` raised."""
        deadline = time.monotonic() + timeout
        while not self.exited():
            if time.monotonic() > deadline:
                self.end()
                raise subprocess.TimeoutExpired(self.process.args, timeout, *self.output())
            time.sleep(POLL_SECONDS)
        self.end()
        return self.process.returncode

    def end(self) -> None:
        """Kill the launcher's process group and every process with this launch's mark,
        then reap the launcher."""
        if self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for _ in range(KILL_ROUNDS):
            left = marked(self.mark)
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(POLL_SECONDS)  # a killed process keeps its environ until it is gone
        self.process.wait()

    def output(self) -> tuple[str, str]:
        """What the launch wrote so far: stdout, and stderr (empty when merged into stdout)."""
        return written(self._stdout), written(self._stderr)


def written(stream: IO[str] | None) -> str:
    """What the launch wrote so far to ``stream``'s file ("" for None), line ends read as a
    text file reads them (``\\r\\n`` and ``\\r`` as ``\\n``).

    The launch writes through the file description ``stream`` holds, so they share one file
    position: reading with ``os.pread`` never moves it (a seek would make the launch's next
    writes overwrite what it wrote before). A character a write in progress has cut in two is
    left for the next read.
    """
    if stream is None:
        return ""
    descriptor = stream.fileno()
    data = os.pread(descriptor, os.fstat(descriptor).st_size, 0)
    text = codecs.getincrementaldecoder("utf-8")().decode(data)
    return text.replace("\r\n", "\n").replace("\r", "\n")


@contextlib.contextmanager
def launched(command: Sequence[str], env: dict[str, str], merge_output: bool = False
             ) -> Iterator[Launch]:
    """``command`` started in a new session with ``env`` and a mark of its own; leaving the
    block ends the launch (:meth:`Launch.end`)."""
    mark = uuid.uuid4().hex
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stdout, \
            tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            list(command), env={**env, LAUNCH_VARIABLE: mark}, stdout=stdout,
            stderr=subprocess.STDOUT if merge_output else stderr, text=True,
            start_new_session=True)
        launch = Launch(process, mark, stdout, None if merge_output else stderr)
        try:
            yield launch
        finally:
            launch.end()


def run(command: Sequence[str], env: dict[str, str], timeout: float
        ) -> subprocess.CompletedProcess:
    """``subprocess.run(command, capture_output=True, text=True, timeout=timeout)``, with the
    whole launch killed when it ends, fails or times out (``TimeoutExpired`` is raised)."""
    with launched(command, env) as launch:
        returncode = launch.wait(timeout)
        stdout, stderr = launch.output()
    return subprocess.CompletedProcess(list(command), returncode, stdout, stderr)

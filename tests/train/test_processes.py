"""The launch helper of the torchrun tests (``tests/train/processes.py``): whatever a launch
started is gone once it ends, whether it timed out, exited leaving a child behind, or had a
child in a session of its own (as torchrun's workers are)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.train import processes

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").is_file(),
                                reason="the launch helper finds processes through /proc")

OWN_SESSION_CHILD = ("import subprocess, sys\n"
                     "child = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
                     "print(child.pid, flush=True)\n"
                     "{then}\n")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def child_pid(launch: processes.Launch) -> int:
    deadline = time.monotonic() + 10
    while not launch.output()[0].strip():
        assert time.monotonic() < deadline, "the launched shell did not start its child"
        time.sleep(0.02)
    return int(launch.output()[0].split()[0])


def test_a_launch_that_times_out_takes_its_child_with_it():
    with processes.launched(["sh", "-c", "sleep 300 & echo $!; wait"], dict(os.environ)) as launch:
        child = child_pid(launch)
        assert alive(child)
        with pytest.raises(subprocess.TimeoutExpired):
            launch.wait(timeout=0.5)
        assert launch.process.returncode == -9
        assert not alive(child)


def test_a_launch_that_exits_leaves_no_orphan():
    done = processes.run(["sh", "-c", "sleep 300 & echo $!"], dict(os.environ), timeout=30)
    assert done.returncode == 0
    assert not alive(int(done.stdout.split()[0]))


@pytest.mark.parametrize("then", ["child.wait()", "sys.exit(3)"])
def test_a_child_in_its_own_session_goes_too(then):
    # torchrun starts each worker with start_new_session=True: killing the launcher's group
    # alone would leave it running
    script = OWN_SESSION_CHILD.format(then=then)
    with processes.launched([sys.executable, "-c", script], dict(os.environ)) as launch:
        child = child_pid(launch)
        if then == "child.wait()":
            with pytest.raises(subprocess.TimeoutExpired):
                launch.wait(timeout=0.5)
        else:
            assert launch.wait(timeout=30) == 3
        assert not alive(child)


def test_leaving_the_block_ends_the_launch():
    with processes.launched(["sh", "-c", "sleep 300 & echo $!; wait"], dict(os.environ)) as launch:
        child = child_pid(launch)
    assert not alive(child) and launch.process.returncode == -9


def test_a_launch_reports_its_output_and_status():
    done = processes.run(["sh", "-c", "echo out; echo err >&2; exit 4"], dict(os.environ),
                         timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (4, "out\n", "err\n")


def test_reading_the_output_while_the_child_writes_keeps_every_line():
    # the child writes through the file description the parent reads: a read that moved
    # its position would make the child's next lines overwrite the first ones
    lines = 50_000
    script = f"for number in range({lines}): print(f'line {{number:05d}}', flush=True)"
    with processes.launched([sys.executable, "-c", script], dict(os.environ)) as launch:
        while not launch.exited():
            launch.output()
        assert launch.wait(timeout=60) == 0
        stdout, _ = launch.output()
    assert stdout.splitlines() == [f"line {number:05d}" for number in range(lines)]

"""The command line's allocator settings: freed memory reused, the user's MALLOC_* kept."""

import os
import platform
import subprocess
import sys

import pytest

from rnnkit import cli

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc",
                                reason="the allocator settings are glibc's")

PROBE = """
import resource, sys, torch
from rnnkit.cli.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
faults = []
for _ in range(20):  # a 40 MB tensor made, touched and freed, as a training step does
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(10 << 20).fill_(1.0)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(kept, max(faults[10:]))  # the heap has settled after the first few
"""


def _probe(mode: str, **extra_env: str) -> tuple[str, int]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("MALLOC_") and name != "GLIBC_TUNABLES"}
    result = subprocess.run([sys.executable, "-c", PROBE, mode], env={**env, **extra_env},
                            capture_output=True, text=True, check=True)
    kept, faults = result.stdout.split()
    return kept, int(faults)


def test_freed_tensors_are_reused_instead_of_faulted_in_again():
    kept, faults_kept = _probe("keep")
    _, faults_default = _probe("default")
    assert kept == "True"
    assert faults_default > 5_000  # 40 MB is above glibc's largest mmap threshold: fresh pages
    assert faults_kept < 100


def test_a_malloc_setting_in_the_environment_is_left_as_the_user_set_it():
    kept, faults = _probe("keep", MALLOC_ARENA_MAX="2")
    assert kept == "False" and faults > 5_000


def test_glibc_tunables_for_malloc_count_as_the_users_setting():
    kept, _ = _probe("keep", GLIBC_TUNABLES="glibc.malloc.trim_threshold=1000000")
    assert kept == "False"


def test_the_rnnkit_program_sets_the_allocator_before_running_the_command(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append("allocator") or True)
    monkeypatch.setattr(cli, "main", lambda: calls.append("main") or 0)
    assert cli.run() == 0
    assert calls == ["allocator", "main"]

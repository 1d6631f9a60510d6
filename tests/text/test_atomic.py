"""Atomic writes: all or nothing, with ordinary file permissions."""

import errno
import os
import stat

import pytest

from rnnkit.text import atomic_path
from rnnkit.text.atomic import remove_stale_temporaries


def test_success_replaces_the_target_with_umask_permissions(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert list(tmp_path.iterdir()) == [target]


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_disk_full_is_one_error_naming_the_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(OSError) as caught, atomic_path(target) as temporary:
        temporary.write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert caught.value.errno == errno.ENOSPC
    assert str(caught.value) == (f"[Errno 28] could not write {target}: No space left on "
                                 "device (the previous out.txt is kept)")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_other_errors_pass_unchanged(tmp_path):
    missing = FileNotFoundError(errno.ENOENT, "No such file", "input.txt")
    with pytest.raises(FileNotFoundError) as caught, atomic_path(tmp_path / "out.txt"):
        raise missing
    assert caught.value is missing


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    (tmp_path / "corpus").mkdir()
    stale = [tmp_path / ".trainer_state.safetensors.k3_9zq0a.tmp",
             tmp_path / "corpus" / ".tokens.bin.abcdefgh.tmp"]
    kept = [tmp_path / "notes.tmp", tmp_path / ".hidden.tmp", tmp_path / ".x.short.tmp",
            tmp_path / "model.safetensors"]
    for path in stale + kept:
        path.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert sorted(tmp_path.rglob("*.*")) == sorted(kept)

"""Model directories refuse pickles and name corrupt or missing files."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rnnkit
from rnnkit.train.model_dir import (
    ModelDirectoryError,
    load_tensors,
    load_weights,
    read_config,
    require_files,
    save_weights,
    write_config,
)

SOURCE = Path(rnnkit.__file__).parents[1]


def test_weights_round_trip(tmp_path):
    module = torch.nn.Linear(3, 2)
    save_weights(tmp_path, module)
    other = torch.nn.Linear(3, 2)
    load_weights(tmp_path, other)
    assert torch.equal(module.weight, other.weight)


def test_pickle_is_refused_without_unpickling(tmp_path):
    class Bomb:
        def __reduce__(self):
            return (pytest.fail, ("unpickled!",))

    (tmp_path / "model.safetensors").write_bytes(pickle.dumps(Bomb()))
    with pytest.raises(ModelDirectoryError, match="a Python pickle, not safetensors; rnnkit "
                                                  "never unpickles"):
        load_tensors(tmp_path / "model.safetensors")
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.safetensors")
    with pytest.raises(ModelDirectoryError, match="zip archive"):
        load_tensors(tmp_path / "model.safetensors")


def test_truncated_weights_are_named(tmp_path):
    save_weights(tmp_path, torch.nn.Linear(30, 20))
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelDirectoryError, match="corrupt or truncated"):
        load_weights(tmp_path, torch.nn.Linear(30, 20))


def test_weights_that_do_not_fit(tmp_path):
    save_weights(tmp_path, torch.nn.Linear(3, 2))
    with pytest.raises(ModelDirectoryError, match="does not fit the model in config.json"):
        load_weights(tmp_path, torch.nn.Linear(4, 2))


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(ModelDirectoryError, match="does not exist"):
        require_files(tmp_path / "nope", "config.json")
    with pytest.raises(ModelDirectoryError, match="missing config.json, vocab.json"):
        require_files(tmp_path, "config.json", "vocab.json")


def test_config_checks_format_and_task(tmp_path):
    write_config(tmp_path, "lm", {"model": {}})
    assert read_config(tmp_path, "lm")["versions"]["torch"] == torch.__version__
    with pytest.raises(ModelDirectoryError, match="holds a 'lm' model, expected a 'classify'"):
        read_config(tmp_path, "classify")
    (tmp_path / "config.json").write_text('{"hello": 1}')
    with pytest.raises(ModelDirectoryError, match="not an rnnkit model configuration"):
        read_config(tmp_path)


WRITE_PAST_A_FILE_SIZE_LIMIT = """
import resource, signal, sys, torch
from rnnkit.train.model_dir import load_weights, save_weights
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, write() fails with EFBIG
directory = Path(sys.argv[1])
save_weights(directory, torch.nn.Linear(3, 2))
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    save_weights(directory, torch.nn.Linear(300, 200))
except OSError as error:
    print(error)
load_weights(directory, torch.nn.Linear(3, 2))
"""


def test_a_full_disk_is_an_os_error_naming_the_file_and_keeps_the_old_weights(tmp_path):
    # safetensors reports its I/O errors as SafetensorError, which is no OSError
    done = subprocess.run([sys.executable, "-c", WRITE_PAST_A_FILE_SIZE_LIMIT, str(tmp_path)],
                          check=False, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(SOURCE)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"[Errno 27] could not write {tmp_path / 'model.safetensors'}: File "
                           "too large (the previous model.safetensors is kept)\n")
    assert [path.name for path in tmp_path.iterdir()] == ["model.safetensors"]

"""``examples/sst2_ensemble.sh`` with a stand-in ``rnnkit`` on PATH: it trains ten models two at
a time and evaluates them together; a failed training stops it, names the seed and stops the
training still running."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "examples" / "sst2_ensemble.sh"
FAKE = """#!/usr/bin/env bash
for arg in "$@"; do [ "$previous" = --seed ] && seed=$arg; previous=$arg; done
if [ "$1" = train ]; then
    [ "$seed" = "$FAIL_SEED" ] && { echo "bad seed" >&2; exit 2; }
    sleep "$TRAIN_SECONDS"
    echo "$seed" >> "$DONE"
    exit 0
fi
echo "evaluate $*"
"""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(tmp_path, fail_seed, seconds):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rnnkit").write_text(FAKE)
    (bin_dir / "rnnkit").chmod(0o755)
    done = tmp_path / "done.txt"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAIL_SEED": fail_seed,
           "TRAIN_SECONDS": str(seconds), "DONE": str(done)}
    command = ["bash", str(SCRIPT), str(tmp_path / "data"), str(tmp_path / "out")]
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env,
                            timeout=60)
    return result, done


def test_ten_models_then_the_ensemble_on_dev_and_test(tmp_path):
    result, done = _run(tmp_path, fail_seed="none", seconds=0)
    assert result.returncode == 0, result.stderr
    assert sorted(done.read_text().split()) == [str(seed) for seed in range(10)]
    evaluations = [line for line in result.stdout.splitlines() if line.startswith("evaluate")]
    assert len(evaluations) == 2
    assert all(f"model_s{seed} " in line for line in evaluations for seed in range(10))
    assert "stsa.binary.dev" in evaluations[0] and "stsa.binary.test" in evaluations[1]


def test_a_failed_training_stops_the_script_and_the_other_training(tmp_path):
    result, done = _run(tmp_path, fail_seed="3", seconds=2)
    assert result.returncode != 0
    assert f"seed 3 failed: see {tmp_path / 'out' / 'model_s3.log'}" in result.stderr
    time.sleep(3)  # seed 2 would have finished by now had it not been stopped
    assert sorted(done.read_text().split()) == ["0", "1"]

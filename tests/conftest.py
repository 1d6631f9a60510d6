"""Shared fixtures: the optional ../shared/data folder; one torch thread for small tests."""

import os

# Busy-waiting OpenMP threads make small recurrent loops many times slower whenever another
# process shares the cores; set before torch is imported by any test module.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import pytest
import torch

# The tests run tiny tensors: one thread avoids synchronisation overhead and oversubscription.
torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """Path to ../shared/data beside the checkout; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared datasets at {SHARED_DATA}, which is absent in this checkout")
    return SHARED_DATA

import lsnn_bio  # noqa: F401  (quiet Brian2 before anything imports it)
from pathlib import Path

import numpy as np
import pytest

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture
def models():
    return MODELS


def poisson_raster(steps, n, rate_hz, dt_s, seed=0, batch=None):
    """0/1 Poisson raster (steps, n) or (steps, batch, n)."""
    rng = np.random.default_rng(seed)
    shape = (steps, n) if batch is None else (steps, batch, n)
    return (rng.random(shape) < rate_hz * dt_s).astype(np.float64)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The suite's networks are small: one thread is as fast and immune to a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

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

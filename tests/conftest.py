"""Every fixture of the suite (tests never import this module; pytest hands fixtures to them by name)."""

from pathlib import Path

import numpy as np
import pytest

import lsnn_bio  # noqa: F401  (quiet Brian2 before anything imports it)

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.fixture(scope="session")
def models():
    """The repository's models/ folder."""
    return MODELS


def _poisson_raster(steps, n, rate_hz, dt_s, seed=0, batch=None):
    """0/1 Poisson raster (steps, n) or (steps, batch, n)."""
    rng = np.random.default_rng(seed)
    shape = (steps, n) if batch is None else (steps, batch, n)
    return (rng.random(shape) < rate_hz * dt_s).astype(np.float64)


@pytest.fixture(scope="session")
def poisson_raster():
    """``poisson_raster(steps, n, rate_hz, dt_s, seed=0, batch=None)``: a seeded 0/1 Poisson raster."""
    return _poisson_raster


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Compiled Brian2 binaries go to this session's own cache, never the user's ~/.cache/lsnn-bio."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LSNN_BIO_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread_per_session():
    """The suite's networks are small: one thread is as fast and immune to a busy machine. Session-wide, because
    session fixtures (the shared training runs) are set up before any function-scoped autouse fixture."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """... and back to one after any test that changed it."""
    import torch

    yield
    torch.set_num_threads(1)


# --------------------------------------------------------------------------- networks


@pytest.fixture(scope="session")
def store_recall_spec(models):
    """The store-recall LSNN drawn from seed 0 (shared: tests must not change it)."""
    return lsnn_bio.load_network(models / "lsnn_store_recall.yaml", seed=0)


@pytest.fixture(scope="session")
def smnist_spec(models):
    """The paper's sequential-MNIST LSNN drawn from seed 0 (shared: tests must not change it)."""
    return lsnn_bio.load_network(models / "lsnn_smnist.yaml", seed=0)


# Two populations so that the DEEP R budget is shared by eight matrices, Dale signs on the
# recurrent and readout blocks, free signs on the input, no autapses in L->L and A->A.
DEEPR_NETWORK = """
network: deepr_small
dt: 1 ms
inputs:
  x: {size: 10}
populations:
  L: {neuron: %(models)s/lif.yaml, size: 8, refractory: 2 ms}
  A:
    neuron: %(models)s/alif.yaml
    size: 8
    refractory: 2 ms
    parameters: {tau_a: 200 ms, beta: 1.8 V}
readouts:
  out: {neuron: %(models)s/readout.yaml, size: 2}
dale: {excitatory_fraction: 0.75, inhibitory_in: L}
projections:
  input:
    source: x
    target: [L, A]
    connectivity: 0.3
    weights: {init: normal, scale: 2 V}
    delay: 0 ms
  recurrent:
    source: [L, A]
    target: [L, A]
    autapses: false
    connectivity: 0.3
    sign: dale
    weights: {init: normal, scale: 1 V}
    delay: {uniform: [1 ms, 3 ms]}
  readout:
    source: [L, A]
    target: out
    connectivity: 0.3
    sign: dale
    weights: {init: glorot_uniform}
"""


@pytest.fixture(scope="session")
def deepr_spec(tmp_path_factory, models):
    """A small two-population network with every kind of projection DEEP R rewires."""
    path = tmp_path_factory.mktemp("deepr") / "net.yaml"
    path.write_text(DEEPR_NETWORK % {"models": models})
    return lsnn_bio.load_network(path, seed=3)


# --------------------------------------------------------------------------- Brian2 builds


BRIAN_STEPS = 500
BRIAN_RECORD = {"ALIF": ["v", "b"], "LIF": ["v"]}


@pytest.fixture(scope="module")
def numpy_net(store_recall_spec):
    """The store-recall network on Brian2's numpy engine, 500 steps, recording v (and ALIF's b)."""
    from lsnn_bio.brian import BrianNetwork

    return BrianNetwork(store_recall_spec, engine="numpy", steps=BRIAN_STEPS, record=BRIAN_RECORD)


@pytest.fixture(scope="module")
def cpp_net(store_recall_spec, tmp_path_factory):
    """The same network compiled once as a C++ standalone binary (the slow part of its tests)."""
    from lsnn_bio.brian import BrianNetwork

    return BrianNetwork(
        store_recall_spec,
        engine="cpp_standalone",
        steps=BRIAN_STEPS,
        record=BRIAN_RECORD,
        directory=tmp_path_factory.mktemp("cpp"),
    )


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="session")
def experiment_path(models):
    return models.parent / "training" / "store_recall.yaml"


SMALL_RUN = [
    "task.symbol_ms=20",
    "batch_size=16",
    "validation.every=4",
    "validation.batch_size=16",
    "checkpoint_every=4",
    "test_batch_size=64",
    "task.validation_sequences=16",
    "task.test_sequences=24",
    "stop=null",
    "dtype=float64",
    "compile=false",
]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, experiment_path):
    """A finished 4-iteration float64 store-recall run: its checkpoint's path (the run folder is its parent)."""
    from lsnn_bio.training import Trainer, load_experiment

    out = tmp_path_factory.mktemp("run")
    Trainer(load_experiment(experiment_path, settings=SMALL_RUN), out, iterations=4, progress=False).run()
    return out / "checkpoint.safetensors"


# --------------------------------------------------------------------------- tasks


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits as the sequential-digits task (built once per module: it encodes every image)."""
    from lsnn_bio.tasks import SequentialDigits

    return SequentialDigits()


# --------------------------------------------------------------------------- learning to learn


@pytest.fixture(scope="session")
def l2l_regression_run(tmp_path_factory):
    """A tiny float64 learning-to-learn regression run (tests/l2l_runs.py): (run folder, MSE before training, summary)."""
    from l2l_runs import regression_run

    out = tmp_path_factory.mktemp("l2l") / "regression"
    before, summary = regression_run(out)
    return out, before, summary


@pytest.fixture(scope="session")
def l2l_navigation_run(tmp_path_factory):
    """A tiny float64 meta-RL navigation run trained through `lsnn-bio train` (dispatch included): its run folder."""
    from l2l_runs import NAVIGATION, ROOT

    from lsnn_bio.cli import main

    out = tmp_path_factory.mktemp("l2l") / "navigation"
    settings = [f"--set={s}" for s in NAVIGATION]
    command = ["train", str(ROOT / "training" / "meta_rl_navigation.yaml"), "--out", str(out), "--iterations", "4"]
    assert main([*command, "--quiet", *settings]) == 0
    return out

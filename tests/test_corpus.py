"""twin64 == Brian2 (numpy) on random Brian2 models written the way users write them.

``model_corpus.make_model(seed)`` draws a network from families of neuron models
(LIF with current or voltage synapses and adaptive thresholds, AdEx, Izhikevich,
conductance-based with time-dependent drive, dimensionless and quadratic models)
with literal and named constants, reset sequences, refractoriness with and
without ``(unless refractory)``, subexpressions of ``i`` and ``N``, several
populations and delayed and same-step synapses, integrated by the method Brian2
picks or the one the model names. Each model is driven at a rate that makes it
fire at 5-120 Hz (asserted) and simulated for 1200 steps by both engines.

Spikes must be identical. States must differ only by roundoff: the twin sums a
step's synaptic inputs before adding them where Brian2 adds them one synapse at
a time, so where states first differ it is by about an ulp (at most 1e-14 of the
variable's range). Chaotic dynamics (the v**2 of Izhikevich) may amplify that
ulp; once it has grown past 1e-6 of a variable's range the runs may part (a
``ChaoticModel`` warning names the model); until then every spike must agree.
Most models stay within 1e-13 throughout.
"""

import warnings

import pytest
import torch

from lsnn_bio import load_network
from lsnn_bio.check import check

from model_corpus import assert_same_as_brian, calibrated, make_model, mean_rate

STEPS = 1200


class ChaoticModel(UserWarning):
    """A model whose roundoff differences grow until spikes differ: reported, not failed."""


DEFAULT = range(35)
SWEEP = range(35, 335)


def compare_with_brian(seed, folder):
    model = make_model(seed)
    path = model.write(folder)
    found = calibrated(load_network(path, seed=seed), seed, STEPS)
    assert found is not None, f"model {seed} ({sorted(model.features)}) never fires at 5-120 Hz"
    spec, rate = found
    report = check(
        path, steps=STEPS, engines=("twin64", "numpy"), seed=seed, rate_hz=rate, spec=spec, log=open("/dev/null", "w")
    )
    where = f"model {seed} ({', '.join(sorted(model.features))})"
    for engine, run in report.runs.items():
        hz = mean_rate(run.spikes, float(spec.dt))
        assert 5 <= hz <= 120, f"{where}: {engine} fires at {hz:.1f} Hz"
    chaotic = assert_same_as_brian(report, where)
    if chaotic is not None:  # counted in the sweep's report: a legitimate, roundoff-seeded divergence
        warnings.warn(f"{where}: chaotic, roundoff grew past 1e-6 at step {chaotic}", ChaoticModel, stacklevel=2)
    return model.features


@pytest.mark.parametrize("seed", DEFAULT)
def test_generated_model_twin64_equals_brian2_numpy(seed, tmp_path):
    torch.set_num_threads(1)
    compare_with_brian(seed, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SWEEP)
def test_generated_model_sweep(seed, tmp_path):
    torch.set_num_threads(1)
    compare_with_brian(seed, tmp_path)


def test_corpus_covers_the_supported_class():
    """The default models exercise every idiom the corpus is meant to (so a green suite means something)."""
    features = set().union(*(make_model(seed).features for seed in DEFAULT))
    wanted = {
        "literal threshold",
        "named threshold",
        "literal reset",
        "named reset",
        "subtractive reset",
        "reset sequence",
        "refractory",
        "no refractory period",
        "unless refractory",
        "subexpression of i and N",
        "per-neuron parameter",
        "time-dependent subexpression",
        "exponential nonlinearity",
        "squares and products of state variables",
        "method chosen by Brian2",
        "method euler",
        "method rk2",
        "same-step recurrent synapses",
        "delayed recurrent synapses",
        "2 populations",
        "dt 0.1 ms",
        "dt 1 ms",
    }
    assert wanted <= features, f"missing: {sorted(wanted - features)}"

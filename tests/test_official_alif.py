"""models/alif_official.yaml and lif_official.yaml are the paper's discrete map, spike for spike.

The reference below is written from the paper's equations (reference section 1.3),
independently of lsnn-bio and Brian2: state v, b and the last spike z, a ring of
future currents for the synaptic delays, the spike tested on the *previous*
voltage against the *new* threshold, the reset one step later, n_ref steps of
refractoriness. Brian2 (numpy) and the float64 twin must produce its spikes.
"""

import numpy as np
import pytest

from lsnn_bio import load_network
from lsnn_bio.check import check, poisson_inputs

NETWORK = """network: official_map
dt: 1 ms
inputs:
  x: {{size: 40}}
populations:
  R: {{neuron: {models}/lif_official.yaml, size: 30, refractory: {n_ref} ms}}
  A:
    neuron: {models}/alif_official.yaml
    size: 30
    refractory: {n_ref} ms
    parameters: {{tau_a: 300 ms, beta: 1.8 V}}
projections:
  input:
    source: x
    target: [R, A]
    weights: {{init: normal, scale: 0.6 V}}
    delay: {{uniform: [0 ms, 4 ms]}}
  recurrent:
    source: [R, A]
    target: [R, A]
    connectivity: 0.3
    autapses: false
    weights: {{init: normal, scale: 1 V}}
    delay: {{uniform: [1 ms, 5 ms]}}
"""


def paper_map(spec, inputs, n_ref):
    """The official LSNN step (reference section 1.3) for the network ``spec``; returns z[t+1] per step."""
    steps = inputs["x"].shape[0]
    sizes = {name: p.size for name, p in spec.populations.items()}
    offset = {"R": 0, "A": sizes["R"]}
    n = sum(sizes.values())
    dt, tau_m, v_th = 1e-3, 20e-3, 0.01
    alpha = np.exp(-dt / tau_m)
    rho = np.concatenate([np.ones(sizes["R"]), np.full(sizes["A"], np.exp(-dt / 0.3))])
    beta = np.concatenate([np.zeros(sizes["R"]), np.full(sizes["A"], 1.8)])
    horizon = 16
    ring = np.zeros((steps + horizon, n))  # ring[t]: the current I[t] acting at step t
    x = inputs["x"]
    v, b, z = np.zeros(n), np.zeros(n), np.zeros(n)
    recent = []  # the last n_ref emitted spike vectors
    spikes = np.zeros((steps, n), dtype=bool)
    for t in range(steps):
        for p in spec.projections:  # this step's input and last step's spikes, into their delay slots
            post = offset[p.target] + p.j
            if p.source == "x":
                active = x[t, p.i] > 0
                np.add.at(ring, (t + p.delay[active], post[active]), p.w[active])
            else:
                active = z[offset[p.source] + p.i] > 0  # z[t]: emitted by the previous call
                np.add.at(ring, (t + p.delay[active] - 1, post[active]), p.w[active])
        b = rho * b + (1 - rho) * z
        threshold = v_th + beta * b
        v_next = alpha * v + (1 - alpha) * ring[t] - threshold * z
        z_next = ((v - threshold) / threshold > 0).astype(float)
        if any(r.any() for r in recent):
            z_next[np.logical_or.reduce(recent)] = 0.0
        recent = (recent + [z_next > 0])[-n_ref:]
        spikes[t] = z_next > 0
        v, z = v_next, z_next
    return spikes


@pytest.mark.parametrize("n_ref", [3, 5])
def test_official_models_reproduce_the_paper_map(n_ref, models, tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(NETWORK.format(models=models, n_ref=n_ref))
    spec = load_network(path, seed=4)
    steps, rate = 2000, 15.0
    report = check(
        path, steps=steps, engines=("twin64", "numpy"), seed=4, rate_hz=rate, spec=spec, log=open("/dev/null", "w")
    )
    expected = paper_map(spec, poisson_inputs(spec, steps, rate, 4), n_ref)
    hz = expected.mean() / 1e-3
    assert 5 <= hz <= 50, f"the reference fires at {hz:.1f} Hz; the test needs 5-50 Hz"
    for engine, run in report.runs.items():
        got = np.concatenate([run.spikes["R"], run.spikes["A"]], axis=1)
        differing = np.argwhere(got != expected)
        assert not len(differing), f"{engine}: first different spike at (step, neuron) {tuple(differing[0])}"

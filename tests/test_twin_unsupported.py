"""Constructs outside the twin's class are refused with the user's own text, never silently approximated."""

import pytest

from lsnn_bio import UnsupportedConstruct, load_network
from lsnn_bio.twin import Twin

NEURON = """neuron: N
equations: |
{equations}
threshold: '{threshold}'
reset: '{reset}'
refractory: 2 ms
parameters: {{tau: 10 ms, v_th: 10 mV}}
synapse: {{model: "{synapse_model}", on_pre: '{on_pre}'}}
"""
NETWORK = """network: n
dt: 1 ms
inputs:
  x: {size: 5}
populations:
  P: {neuron: neuron.yaml, size: 4}
projections:
  input: {source: x, target: P, weights: {init: normal, scale: 1 mV}}
"""
BASE = dict(
    equations="  dv/dt = -v / tau : volt",
    threshold="v > v_th",
    reset="v = 0*mV",
    synapse_model="w : volt",
    on_pre="v_post += w",
)

CASES = {
    "a threshold with or": (dict(threshold="v > v_th or v < -v_th"), "v > v_th or v < -v_th", "one comparison"),
    "a nonlinear on_pre": (dict(on_pre="v_post += w*w/mV"), "w*w/mV", "not linear in the weight"),
    "synaptic state": (
        dict(synapse_model="w : volt\\ndg/dt = -g/tau : 1 (clock-driven)"),
        "must declare only the weight",
        "synaptic state variables",
    ),
    "stochastic equations": (
        dict(equations="  dv/dt = -v / tau + sigma*xi*tau**-0.5 : volt\\n  sigma : volt"),
        "stochastic",
        "stochastic",
    ),
    "a shared variable": (
        dict(equations="  dv/dt = -v / tau + I0/tau : volt\\n  I0 : volt (shared)"),
        "shared",
        "shared",
    ),
    "a function the twin lacks": (dict(threshold="v > v_th + randn()*mV"), "randn", "no twin implementation"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_unsupported_construct_quotes_the_users_text(case, tmp_path):
    overrides, quoted, reason = CASES[case]
    fields = {**BASE, **overrides}
    fields["equations"] = fields["equations"].replace("\\n", "\n  ")
    (tmp_path / "neuron.yaml").write_text(NEURON.format(**fields))
    (tmp_path / "net.yaml").write_text(NETWORK)
    spec = load_network(tmp_path / "net.yaml")  # Brian2 accepts every one of these models
    with pytest.raises(UnsupportedConstruct) as error:
        Twin(spec)
    message = str(error.value)
    assert quoted in message and reason in message, message
    assert "_lio" not in message
    assert "'P'" in message or "projection 'input'" in message

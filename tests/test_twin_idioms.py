"""Named regressions: common Brian2 idioms the twin once computed silently wrong (issue 7).

Each network fires at a non-trivial rate (asserted) and the float64 twin must
give Brian2's spikes exactly.
"""

import pytest

from lsnn_bio import load_network
from lsnn_bio.check import check

from model_corpus import assert_same_as_brian

LIF_LITERAL = """neuron: LIF_literal
equations: |
  dv/dt = (-70*mV - v) / (20*ms) : volt
threshold: v > -40*mV
reset: v = -60*mV
refractory: 2 ms
synapse: {model: "w : volt", on_pre: v_post += w}
"""

IZHIKEVICH = """neuron: Izhikevich
equations: |
  dv/dt = (0.04*v**2/mV + 5*v + 140*mV - u) / ms : volt
  du/dt = 0.02*(0.2*v - u) / ms : volt
threshold: v >= 30*mV
reset: |
  v = -65*mV
  u += 8*mV
method: euler
initial: {v: -65 mV, u: -13 mV}
synapse: {model: "w : volt", on_pre: v_post += w}
"""

ALIF_SPREAD = """neuron: ALIF_spread
equations: |
  dv/dt = -v / tau_m : volt
  db/dt = -b / tau_a : 1
  tau_a = 100*ms + 400*ms*i/N : second  # a spread of adaptation time constants
  A = v_th + beta * b : volt
threshold: v > A
reset: |
  b += 1 - exp(-dt / tau_a)
  v -= A
method: exact
parameters: {tau_m: 20 ms, v_th: 10 mV, beta: 1.6 V}
synapse: {model: "w : volt", on_pre: v_post += (1 - exp(-dt / tau_m)) * w}
"""

NETWORK = """network: {name}
dt: 1 ms
inputs:
  x: {{size: 40}}
populations:
  P: {{neuron: {neuron}, size: 50{refractory}}}
projections:
  input: {{source: x, target: P, weights: {{init: normal, scale: {scale}}}, delay: {{uniform: [0 ms, 3 ms]}}}}
  recurrent: {{source: P, target: P, connectivity: 0.2, weights: {{init: normal, scale: {recurrent}}}, delay: 1 ms}}
"""

CASES = {  # name: (neuron document text or shipped file, input scale, recurrent scale, rate Hz, refractory)
    "literal threshold and reset": (LIF_LITERAL, "40 mV", "5 mV", 20.0, ""),
    "Izhikevich v >= 30*mV": (IZHIKEVICH, "60 mV", "5 mV", 40.0, ""),
    "ALIF without refractory period": ("alif.yaml", "1 V", "0.5 V", 20.0, ""),
    "subexpression of i and N": (ALIF_SPREAD, "1 V", "0.5 V", 20.0, ", refractory: 2 ms"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_idiom_twin64_equals_brian2(case, tmp_path, models):
    text, scale, recurrent, rate, refractory = CASES[case]
    if text.endswith(".yaml"):
        neuron = str(models / text)
    else:
        neuron = "neuron.yaml"
        (tmp_path / neuron).write_text(text)
    path = tmp_path / "net.yaml"
    path.write_text(
        NETWORK.format(
            name=case.replace(" ", "_").replace("*", "").replace("=", "").replace(">", ""),
            neuron=neuron,
            refractory=refractory,
            scale=scale,
            recurrent=recurrent,
        )
    )
    report = check(path, steps=2000, engines=("twin64", "numpy"), seed=3, rate_hz=rate, log=open("/dev/null", "w"))
    spec = load_network(path, seed=3)
    for engine, rates in report.rates_hz(float(spec.dt)).items():
        assert 3 <= rates["P"] <= 150, f"{case}: {engine} fires at {rates['P']:.1f} Hz; the test needs activity"
    assert_same_as_brian(report, case)

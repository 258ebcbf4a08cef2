"""The match is a tested property: twin float64 == Brian2 numpy == Brian2 C++, spike for spike.

Each case simulates >= 2000 steps of one random network with Poisson inputs at a
rate that makes it fire at 5-50 Hz (asserted, so a silent network cannot pass).
"""

import json
import subprocess
import sys

import pytest

from lsnn_bio import load_network
from lsnn_bio.check import check

STEPS = 2000

LIF_OR_ALIF = """network: {name}
dt: 1 ms
inputs:
  x: {{size: 40}}
populations:
  P: {{neuron: {models}/{neuron}, size: 60, refractory: 2 ms}}
projections:
  input: {{source: x, target: P, weights: {{init: normal, scale: 1 V}}, delay: {{uniform: [0 ms, 3 ms]}}}}
  recurrent: {{source: P, target: P, connectivity: 0.3, weights: {{init: normal, scale: {scale}}}, delay: {{uniform: [1 ms, 5 ms]}}}}
"""

CASES = {  # name: (document, input rate in Hz)
    "lif": ("lif_only", 5.0),
    "alif": ("alif_only", 20.0),
    "lsnn_smnist": ("lsnn_smnist.yaml", 20.0),
    "adex_euler": ("adex_network.yaml", 20.0),
    "lif_expsyn_exponential_euler": ("lif_expsyn_network.yaml", 20.0),
}


def document(name, models, tmp_path):
    if name in ("lif_only", "alif_only"):
        neuron, scale = ("lif.yaml", "0.3 V") if name == "lif_only" else ("alif.yaml", "1 V")
        path = tmp_path / f"{name}.yaml"
        path.write_text(LIF_OR_ALIF.format(name=name, models=models, neuron=neuron, scale=scale))
        return path
    return models / name


@pytest.mark.parametrize("case", sorted(CASES))
def test_twin64_numpy_and_cpp_standalone_spike_for_spike(case, models, tmp_path):
    name, rate = CASES[case]
    path = document(name, models, tmp_path)
    engines = ("twin64",) + (("twin32",) if case == "lsnn_smnist" else ()) + ("numpy", "cpp_standalone")
    report = check(path, steps=STEPS, engines=engines, seed=1, rate_hz=rate, directory=tmp_path / "build")
    spec = load_network(path, seed=1)
    for engine, rates in report.rates_hz(float(spec.dt)).items():
        mean = sum(r * spec.populations[p].size for p, r in rates.items()) / sum(
            spec.populations[p].size for p in rates
        )
        assert 5 <= mean <= 50, f"{case}/{engine}: mean rate {mean:.1f} Hz is outside 5-50 Hz"
    agreement = report.agreement
    assert agreement["twin64~numpy"] == 1.0
    assert agreement["twin64~cpp_standalone"] == 1.0
    assert agreement["numpy~cpp_standalone"] == 1.0
    differences = report.state_difference["twin64~numpy"]
    assert differences and all(d["max_abs"] < 1e-9 for d in differences.values()), differences
    if case == "lsnn_smnist":
        assert agreement["twin32~cpp_standalone"] >= 0.99


def test_check_command_prints_the_promised_json(models, tmp_path):
    command = [
        sys.executable,
        "-m",
        "lsnn_bio.cli",
        "check",
        str(models / "lsnn_store_recall.yaml"),
        "--steps",
        "300",
        "--engines",
        "twin64,twin32,numpy",
        "--json",
        "--rate",
        "20",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    data = json.loads(output)
    assert data["steps"] == 300
    assert set(data["spikes"]) == {"twin64", "twin32", "numpy"} and data["spikes"]["numpy"] > 0
    assert data["spike_agreement"]["twin64~numpy"] == 1.0
    assert set(data["spike_agreement"]) == {"twin64~twin32", "twin64~numpy", "twin32~numpy"}
    # One entry per variable with its own unit, never one number mixing volts and dimensionless traces.
    differences = data["state_difference"]["twin64~numpy"]
    assert {v: d["unit"] for v, d in differences.items()} == {
        "ALIF.b": "1",
        "ALIF.v": "V",
        "LIF.v": "V",
        "out.out": "1",
        "out.y": "1",
    }
    assert all(0 <= d["max_abs"] < 1e-9 < d["max_abs_value"] for v, d in differences.items() if v.endswith(".v"))


def test_check_rejects_unknown_engine_clearly(models):
    command = [
        sys.executable,
        "-m",
        "lsnn_bio.cli",
        "check",
        str(models / "lsnn_store_recall.yaml"),
        "--engines",
        "twin16",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown engine(s) twin16" in result.stderr and "cpp_standalone" in result.stderr

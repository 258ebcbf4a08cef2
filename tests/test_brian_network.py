"""The Brian2 builder: numpy and C++ standalone agree, the binary is reused, CUDA code generates."""

from pathlib import Path

import brian2
import numpy as np
import pytest

from lsnn_bio.brian import BrianNetwork, EngineError, TrialInputError, generate_cuda_code, gpu_available
from lsnn_bio.units import seconds

STEPS = 500  # as the numpy_net and cpp_net fixtures are built
TARGET = brian2.prefs.codegen.target  # building networks must leave it as it was


def poisson(spec, seed, rate_hz=20.0, steps=STEPS):
    rng = np.random.default_rng(seed)
    p = rate_hz * seconds(spec.dt)
    return {name: (rng.random((steps, inp.size)) < p).astype(np.uint8) for name, inp in spec.inputs.items()}


def assert_same(a, b):
    assert a.spikes.keys() == b.spikes.keys()
    for name in a.spikes:
        np.testing.assert_array_equal(a.spikes[name], b.spikes[name], err_msg=f"spikes of {name}")
    assert a.states.keys() == b.states.keys()
    for (name, var), values in a.states.items():
        np.testing.assert_allclose(values, b.states[name, var], rtol=0, atol=1e-12, err_msg=f"{name}.{var}")


def test_numpy_and_cpp_standalone_give_identical_spikes(store_recall_spec, numpy_net, cpp_net):
    spec = store_recall_spec
    inputs = poisson(spec, seed=1)
    reference = numpy_net.run(inputs)
    standalone = cpp_net.run(inputs)
    assert_same(reference, standalone)
    recurrent = np.concatenate([reference.spikes[p.name] for p in spec.recurrent], axis=1)
    assert 1 < recurrent.mean() / seconds(spec.dt) < 100, "the test network should fire, but not saturate"
    assert reference.states["out", "out"].shape == (STEPS, 2)
    # Building never leaves a standalone device active behind the caller's back.
    assert brian2.get_device() is brian2.devices.device_module.runtime_device
    assert brian2.prefs.codegen.target == TARGET


def test_cpp_binary_reused_with_new_inputs_and_weights(store_recall_spec, numpy_net, cpp_net):
    spec = store_recall_spec
    binary = Path(cpp_net.directory, "main")
    built_at = binary.stat().st_mtime_ns
    cpp_net.run(poisson(spec, seed=3))  # whatever ran before, one more trial
    inputs = poisson(spec, seed=2, rate_hz=30.0)
    weights = {p.name: 0.8 * p.w for p in spec.projections}
    parameters = {"out": {"bias": [0.5, -0.25]}}

    standalone = cpp_net.run(inputs, weights=weights, parameters=parameters)
    assert cpp_net.builds == 1 and cpp_net.runs >= 2
    assert binary.stat().st_mtime_ns == built_at
    assert not list(Path(cpp_net.directory, "static_arrays").glob("init_*")), "per-trial files are cleaned up"

    fresh = BrianNetwork(spec.with_weights(weights), engine="numpy", steps=STEPS, record=numpy_net.record)
    reference = fresh.run(inputs, parameters=parameters)
    assert_same(reference, standalone)
    np.testing.assert_allclose(standalone.states["out", "out"][0], [0.5, -0.25])
    # The numpy engine's store/restore path gives the same as a fresh network.
    assert_same(reference, numpy_net.run(inputs, weights=weights, parameters=parameters))
    # Overrides last one trial: without them the spec's weights are back.
    assert_same(numpy_net.run(inputs), cpp_net.run(inputs))


def test_cuda_code_generation_without_gpu(store_recall_spec, tmp_path):
    spec = store_recall_spec
    pytest.importorskip("brian2cuda")
    directory = generate_cuda_code(spec, steps=STEPS, directory=tmp_path / "cuda")
    sources = list(Path(directory).rglob("*.cu"))
    assert Path(directory, "main.cu").is_file()
    assert len(sources) > 10
    assert brian2.prefs.codegen.target == TARGET
    network = BrianNetwork(spec, engine="cuda_standalone", steps=10, directory=tmp_path / "cuda2", generate_only=True)
    with pytest.raises(EngineError, match="generate_only"):
        network.run(poisson(spec, seed=0, steps=10))


def test_bad_requests_are_explained(store_recall_spec, numpy_net, tmp_path):
    spec = store_recall_spec
    wrong = {"symbols": np.zeros((STEPS, 99))}
    with pytest.raises(TrialInputError, match=r"shape \(500, 99\), expected \(500, 100\)"):
        numpy_net.run(wrong)
    with pytest.raises(TrialInputError, match=r"missing input\(s\) \['symbols'\].*accepted: 'symbols'"):
        numpy_net.run({"pixels": np.zeros((STEPS, 100))})
    with pytest.raises(TrialInputError, match="only 0 and 1"):
        numpy_net.run({"symbols": np.full((STEPS, 100), 0.5)})
    with pytest.raises(TrialInputError, match="unknown population 'R'.*LIF, ALIF, out"):
        BrianNetwork(spec, steps=10, record={"R": ["v"]})
    with pytest.raises(TrialInputError, match="no variable 'u'.*accepted: A, b, lastspike, not_refractory, v"):
        BrianNetwork(spec, steps=10, record={"ALIF": ["u"]})
    with pytest.raises(TrialInputError, match="shared constant"):
        numpy_net.run(poisson(spec, 0), parameters={"LIF": {"tau_m": 0.01}})
    with pytest.raises(TrialInputError, match="expected \\(1000,\\)"):
        numpy_net.run(poisson(spec, 0), weights={"input_symbols_to_LIF": np.zeros(3)})
    with pytest.raises(EngineError, match="unknown Brian2 engine 'genn'.*'cpp_standalone'"):
        BrianNetwork(spec, engine="genn", steps=10)
    if not gpu_available():
        pytest.importorskip("brian2cuda")
        with pytest.raises(EngineError, match="no NVIDIA GPU.*generate_only=True"):
            BrianNetwork(spec, engine="cuda_standalone", steps=10, directory=tmp_path)

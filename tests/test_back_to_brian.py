"""Back to Brian2: a trained checkpoint alone rebuilds the network; Brian2 agrees with the twin."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from lsnn_bio.trained import load_trained
from lsnn_bio.training import checkpoint as checkpoints
from lsnn_bio.training.checkpoint import CheckpointError
from lsnn_bio.twin import Twin
from lsnn_bio.validation import validate


def twin_of(trained):
    """The twin as training left it, rebuilt from the checkpoint's twin state (not from its stored network)."""
    twin = Twin(trained.experiment.network(), dtype=torch.float64)
    twin.load_state_dict(checkpoints.load(trained.path).state["twin"])
    return twin


def assert_same_network(a, b):
    for p, q in zip(a.projections, b.projections, strict=True):
        assert p.name == q.name
        for field in ("i", "j", "w", "delay", "sign"):
            assert np.array_equal(getattr(p, field), getattr(q, field)), (p.name, field)
    for name, population in a.populations.items():
        for var, value in population.initial.items():
            assert np.array_equal(np.asarray(value), np.asarray(b.populations[name].initial[var])), (name, var)


def test_checkpoint_alone_rebuilds_the_trained_network(trained_run):
    trained = load_trained(trained_run)
    twin = twin_of(trained)
    assert_same_network(trained.spec, twin.trained_spec())
    bias = trained.spec.populations["out"].initial["bias"]  # a trained per-neuron parameter, in its unit
    assert np.array_equal(np.asarray(bias), twin.parameter("out", "bias").detach().numpy())
    assert not np.array_equal(trained.spec.projections[0].w, trained.experiment.network().projections[0].w)
    assert trained.input == "symbols" and trained.readout == "out"


def test_simulate_reaches_brian2_without_torch(trained_run, tmp_path):
    """A blocker makes ``import torch`` fail in the child: simulate must not need it."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
    )
    script = (
        "import sys\n"
        "try:\n    import torch\nexcept ImportError:\n    pass\nelse:\n    sys.exit('the blocker let torch in')\n"
        "from lsnn_bio.simulation import simulate\n"
        f"report = simulate({str(trained_run)!r}, trials=2, out={str(tmp_path / 'a.nix')!r}, engine='runtime')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(report['spikes'])\n"
    )
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) > 0 and (tmp_path / "a.nix").stat().st_size > 0


def test_a_checkpoint_written_before_the_network_was_stored_still_loads(trained_run, tmp_path):
    """Format 1 held only the twin's state; both its key namings decode to the same trained network."""
    saved = checkpoints.load(trained_run)
    new = load_trained(trained_run).spec
    older = {}
    for key, value in saved.state["twin"].items():  # the names before the twin engine rewrite
        name, _, field = key.removeprefix("synapses.").rpartition(".")
        if key.startswith("synapses."):
            key = f"weights.{name}" if field == "weight" else f"{field}_{name}"
        elif key.startswith("neurons."):
            population, variable = key.removeprefix("neurons.").split(".values.")
            key = f"neuron_parameters.{population}__{variable}"
        older[key] = value
    for name, twin_state in (("format1", saved.state["twin"]), ("format1_older", older)):
        path = tmp_path / f"{name}.safetensors"
        state = {k: v for k, v in saved.state.items() if k != "network"}
        checkpoints.save(path, saved.meta, dict(state, twin=twin_state))
        header = json.loads(safe_metadata(path)["lsnn_bio"])
        header["format"] = "lsnn-bio checkpoint 1"
        rewrite_metadata(path, header)
        assert checkpoints.read(path).meta["format"] == "lsnn-bio checkpoint 1"
        assert_same_network(load_trained(path).spec, new)


def safe_metadata(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return handle.metadata()


def rewrite_metadata(path, header):
    from safetensors.numpy import load_file, save_file

    save_file(load_file(str(path)), str(path), metadata={"lsnn_bio": json.dumps(header)})


def test_validate_in_cpp_standalone_matches_the_twin(trained_run, tmp_path):
    report = validate(trained_run, engine="cpp_standalone", directory=tmp_path / "build", progress=False)
    assert report["split"] == "test" and report["trials"] == 24 and report["windows"] >= 24
    assert report["prediction_agreement"] == 1.0
    assert report["spike_agreement"] == 1.0  # float64 twin: identical spikes
    assert report["brian_accuracy"] == report["twin_accuracy"]
    summary = json.loads((trained_run.parent / "summary.json").read_text())  # the same trials the trainer tested on
    assert report["twin_accuracy"] == summary["test_accuracy"] and report["windows"] == summary["test_windows"]


def test_cli_validate_json_keys_on_the_validation_split(trained_run):
    command = [
        sys.executable,
        "-m",
        "lsnn_bio.cli",
        "validate",
        str(trained_run),
        "--engine",
        "runtime",
        "--split",
        "validation",
        "--trials",
        "3",
        "--json",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"trials", "twin_accuracy", "brian_accuracy", "prediction_agreement", "spike_agreement"} <= set(data)
    assert data["trials"] == 3 and data["split"] == "validation"
    bad = subprocess.run(command[:-5] + ["--split", "train"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'train' (choose from 'validation', 'test')" in bad.stderr


def test_checkpoint_of_another_model_is_refused(trained_run, tmp_path):
    saved = checkpoints.load(trained_run)
    documents = dict(saved.meta["documents"])
    documents["lsnn_store_recall.yaml"] = documents["lsnn_store_recall.yaml"].replace("size: 10", "size: 12")
    forged = tmp_path / "forged.safetensors"
    checkpoints.save(forged, dict(saved.meta, documents=documents), saved.state)
    with pytest.raises(CheckpointError, match=r"do not fit its model 'lsnn_store_recall' \(projection '\w+' is"):
        load_trained(forged)
    without_network = tmp_path / "twin_only.safetensors"  # decoded from the twin state: refused as well
    checkpoints.save(
        without_network, dict(saved.meta, documents=documents), {k: v for k, v in saved.state.items() if k != "network"}
    )
    with pytest.raises(CheckpointError, match="do not fit its model 'lsnn_store_recall'"):
        load_trained(without_network)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    command = [sys.executable, "-m", "lsnn_bio.cli", "validate", str(tmp_path / "nope.safetensors")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and "no such checkpoint file" in result.stderr


def test_simulate_writes_neo_in_pynn_layout_with_a_raster(trained_run, tmp_path):
    from lsnn_bio.neo import read_block
    from lsnn_bio.simulation import simulate

    out = tmp_path / "activity.nix"
    report = simulate(
        trained_run, trials=2, out=out, record=["v", "A"], engine="runtime", raster=tmp_path / "raster.png"
    )
    block = read_block(out)
    assert len(block.segments) == 2 and report["trials"] == 2
    segment = block.segments[0]
    assert len(segment.spiketrains) == 20
    assert {st.annotations["source_population"] for st in segment.spiketrains} == {"LIF", "ALIF"}
    assert sum(len(st) for s in block.segments for st in s.spiketrains) == report["spikes"]
    signals = {(signal.annotations["source_population"], signal.name): signal for signal in segment.analogsignals}
    assert {("LIF", "v"), ("ALIF", "v"), ("ALIF", "A"), ("out", "out")} <= set(signals)
    assert str(signals["ALIF", "A"].units.dimensionality) == "mV"
    assert segment.events and (tmp_path / "raster.png").stat().st_size > 10_000
    assert block.annotations["split"] == "test"


def test_simulate_takes_its_trials_from_the_chosen_split(trained_run, tmp_path):
    from lsnn_bio.simulation import simulate

    trained = load_trained(trained_run)
    twin = twin_of(trained)
    counts = {}
    for split in ("validation", "test"):
        report = simulate(trained_run, trials=2, out=tmp_path / f"{split}.nix", engine="runtime", split=split)
        batch = next(trained.task.batches(split, 2))
        with torch.no_grad():
            result = twin({trained.input: torch.as_tensor(batch.inputs, dtype=twin.dtype)})
        counts[split] = sum(int(s.sum()) for s in result.spikes.values())
        assert report["spikes"] == counts[split]  # float64 twin: the same spikes on the same trials
    assert counts["validation"] != counts["test"]  # so the check above can tell the splits apart


def test_simulate_refuses_bad_requests_before_writing(trained_run, tmp_path):
    from lsnn_bio.errors import LsnnBioError
    from lsnn_bio.simulation import simulate

    with pytest.raises(LsnnBioError, match="unknown Neo format '.csv'"):
        simulate(trained_run, trials=1, out=tmp_path / "a.csv", engine="runtime")
    with pytest.raises(LsnnBioError, match="no population has a variable 'vm'.*accepted: A, b, bias"):
        simulate(trained_run, trials=1, out=tmp_path / "a.pkl", record=["vm"], engine="runtime")
    assert list(tmp_path.iterdir()) == []


def test_old_spelling_of_an_engine_gets_a_one_line_hint(tmp_path):
    cases = (
        (
            ["validate", "run.safetensors", "--device", "cpp_standalone"],
            "--device is the torch device of the twin (cpu, cuda); for a Brian2 engine use --engine cpp_standalone",
        ),
        (
            ["simulate", "run.safetensors", "--trials", "1", "--out", "a.nix", "--device", "runtime"],
            "simulate runs no torch; for a Brian2 engine use --engine runtime",
        ),
        (["train", "experiment.yaml", "--out", "run", "--device", "numpy"], "not a torch device (accepted: cpu, cuda)"),
    )
    for arguments, hint in cases:
        result = subprocess.run(
            [sys.executable, "-m", "lsnn_bio.cli", *arguments], capture_output=True, text=True, cwd=tmp_path
        )
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"lsnn-bio {arguments[0]}: --device ") and hint in result.stderr
    assert list(tmp_path.iterdir()) == []

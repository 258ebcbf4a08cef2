"""Back to Brian2: a trained checkpoint alone rebuilds the network; Brian2 agrees with the twin."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from lsnn_bio.trained import load_trained
from lsnn_bio.training import Trainer, load_experiment
from lsnn_bio.training import checkpoint as checkpoints
from lsnn_bio.training.checkpoint import CheckpointError
from lsnn_bio.validation import validate

SMALL = ["task.symbol_ms=20", "batch_size=16", "validation.every=4", "validation.batch_size=16",
         "checkpoint_every=4", "test_batch_size=64", "task.validation_sequences=16", "task.test_sequences=24", "stop=null",
         "dtype=float64", "compile=false"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from conftest import MODELS

    out = tmp_path_factory.mktemp("run")
    torch.set_num_threads(1)
    experiment = load_experiment(MODELS.parent / "training" / "store_recall.yaml", settings=SMALL)
    Trainer(experiment, out, iterations=4, progress=False).run()
    return out / "checkpoint.safetensors"


def test_checkpoint_alone_rebuilds_the_trained_network(trained_run):
    trained = load_trained(trained_run)
    state = checkpoints.load(trained_run).state["twin"]
    for projection in trained.spec.projections:
        weights = state[f"synapses.{projection.name}.weight"].numpy()
        assert np.array_equal(projection.w, weights[projection.i, projection.j])
    assert trained.input == "symbols" and trained.readout == "out"


def test_validate_in_cpp_standalone_matches_the_twin(trained_run, tmp_path):
    report = validate(trained_run, device="cpp_standalone", directory=tmp_path / "build", progress=False)
    assert report["split"] == "test" and report["trials"] == 24 and report["windows"] >= 24
    assert report["prediction_agreement"] == 1.0
    assert report["spike_agreement"] == 1.0  # float64 twin: identical spikes
    assert report["brian_accuracy"] == report["twin_accuracy"]
    summary = json.loads((trained_run.parent / "summary.json").read_text())  # the same trials the trainer tested on
    assert report["twin_accuracy"] == summary["test_accuracy"] and report["windows"] == summary["test_windows"]


def test_cli_validate_json_keys_on_the_validation_split(trained_run):
    command = [sys.executable, "-m", "lsnn_bio.cli", "validate", str(trained_run), "--device", "runtime",
               "--split", "validation", "--trials", "3", "--json"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"trials", "twin_accuracy", "brian_accuracy", "prediction_agreement", "spike_agreement"} <= set(data)
    assert data["trials"] == 3 and data["split"] == "validation"
    bad = subprocess.run(command[:-5] + ["--split", "train"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'train' (choose from 'validation', 'test')" in bad.stderr


def test_checkpoint_of_another_model_is_refused(trained_run, tmp_path, models):
    saved = checkpoints.load(trained_run)
    documents = dict(saved.meta["documents"])
    documents["lsnn_store_recall.yaml"] = documents["lsnn_store_recall.yaml"].replace("size: 10", "size: 12")
    forged = tmp_path / "forged.safetensors"
    checkpoints.save(forged, dict(saved.meta, documents=documents), saved.state)
    with pytest.raises(CheckpointError, match="do not fit its model 'lsnn_store_recall'"):
        load_trained(forged)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    command = [sys.executable, "-m", "lsnn_bio.cli", "validate", str(tmp_path / "nope.safetensors")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and "no such checkpoint file" in result.stderr


def test_simulate_writes_neo_in_pynn_layout_with_a_raster(trained_run, tmp_path):
    from lsnn_bio.neo import read_block
    from lsnn_bio.simulation import simulate

    out = tmp_path / "activity.nix"
    report = simulate(trained_run, trials=2, out=out, record=["v", "A"], device="runtime", raster=tmp_path / "raster.png")
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
    counts = {}
    for split in ("validation", "test"):
        report = simulate(trained_run, trials=2, out=tmp_path / f"{split}.nix", device="runtime", split=split)
        batch = next(trained.task.batches(split, 2))
        with torch.no_grad():
            result = trained.twin({trained.input: torch.as_tensor(batch.inputs, dtype=trained.twin.dtype)})
        counts[split] = sum(int(s.sum()) for s in result.spikes.values())
        assert report["spikes"] == counts[split]  # float64 twin: the same spikes on the same trials
    assert counts["validation"] != counts["test"]  # so the check above can tell the splits apart


def test_simulate_refuses_bad_requests_before_writing(trained_run, tmp_path):
    from lsnn_bio.errors import LsnnBioError
    from lsnn_bio.simulation import simulate

    with pytest.raises(LsnnBioError, match="unknown Neo format '.csv'"):
        simulate(trained_run, trials=1, out=tmp_path / "a.csv", device="runtime")
    with pytest.raises(LsnnBioError, match="no population has a variable 'vm'.*available: A, b, bias"):
        simulate(trained_run, trials=1, out=tmp_path / "a.pkl", record=["vm"], device="runtime")
    assert list(tmp_path.iterdir()) == []

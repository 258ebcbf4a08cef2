"""Training runs: reproducible, resumable bit-for-bit, guarded, with honest checkpoints."""
import json
import subprocess
import sys

import pytest
import torch

from lsnn_bio.training import Trainer, TrainingDiverged, load_experiment
from lsnn_bio.training import checkpoint as checkpoints
from lsnn_bio.training.checkpoint import CheckpointError
from lsnn_bio.training.losses import rate_regulariser, window_logits

SMALL = ["task.symbol_ms=20", "batch_size=8", "validation.every=2", "validation.batch_size=16",
         "checkpoint_every=2", "test_batch_size=64", "task.test_sequences=64", "stop=null"]


@pytest.fixture
def experiment_path(models):
    return models.parent / "training" / "store_recall.yaml"


def train(path, out, iterations, resume=False, settings=SMALL):
    experiment = load_experiment(path, settings=settings)
    return Trainer(experiment, out, resume=resume, iterations=iterations, progress=False)


def lines(run):
    """metrics.jsonl without wall-clock fields."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in records]


def test_window_logits_average_the_readout_over_each_window():
    outputs = torch.arange(10.0).reshape(10, 1, 1).expand(10, 2, 3)
    windows = torch.tensor([[[0, 2], [5, 10]], [[9, 10], [3, 4]]])
    logits = window_logits(outputs, windows)
    assert logits[0, 0, 0] == 0.5 and logits[0, 1, 0] == 7.0 and logits[1, 0, 0] == 9.0 and logits[1, 1, 0] == 3.0


def test_rate_regulariser_is_the_papers_sum_over_neurons():
    spikes = {"A": torch.zeros(100, 2, 3), "B": torch.zeros(100, 2, 1)}
    spikes["A"][::10, :, 0] = 1  # 100 Hz at dt = 1 ms
    term, mean_hz = rate_regulariser(spikes, dt_ms=1.0, target_hz=10.0)
    expected = (0.1 - 0.01) ** 2 + 3 * 0.01**2
    assert term.item() == pytest.approx(expected) and mean_hz == pytest.approx(25.0)


def test_interrupted_and_resumed_run_is_bit_identical(experiment_path, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    summary = train(experiment_path, straight, 5).run()

    interrupted = tmp_path / "interrupted"
    trainer = train(experiment_path, interrupted, 5)
    original = Trainer.train_step

    def crash_after_three(self):
        if self.iteration == 3:
            raise KeyboardInterrupt  # after iteration 3's metrics, before its checkpoint (every 2)
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    monkeypatch.setattr(Trainer, "train_step", original)
    assert checkpoints.load(interrupted / "checkpoint.safetensors").iteration == 2
    resumed = train(experiment_path, interrupted, 5, resume=True).run()

    a = checkpoints.load(straight / "checkpoint.safetensors").state
    b = checkpoints.load(interrupted / "checkpoint.safetensors").state
    for name, tensor in a["twin"].items():
        assert torch.equal(tensor, b["twin"][name]), name
    assert lines(straight) == lines(interrupted)
    for key in ("test_accuracy", "test_loss", "test_rate_hz", "iterations"):
        assert summary[key] == resumed[key]


def test_checkpoint_is_self_describing_and_refuses_damage(experiment_path, tmp_path):
    run = tmp_path / "run"
    train(experiment_path, run, 2).run()
    path = run / "checkpoint.safetensors"
    saved = checkpoints.load(path)
    assert "lsnn_store_recall.yaml" in saved.meta["documents"] and "alif.yaml" in saved.meta["documents"]
    assert saved.meta["experiment"]["batch_size"] == 8 and saved.meta["versions"]["torch"] == torch.__version__
    assert set(saved.state) >= {"twin", "optimizer", "torch_rng"}
    summary = json.loads((run / "summary.json").read_text())
    assert 0 <= summary["test_error"] <= 1

    damaged = tmp_path / "damaged.safetensors"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        checkpoints.load(damaged)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        checkpoints.load(truncated)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        checkpoints.load(tmp_path / "missing.safetensors")

    state = dict(saved.state, twin=dict(saved.state["twin"]))
    name = next(k for k in state["twin"] if k.endswith(".weight"))
    state["twin"][name] = state["twin"][name].clone()
    state["twin"][name][0, 0] = float("nan")
    checkpoints.save(tmp_path / "nan.safetensors", saved.meta, state)
    with pytest.raises(CheckpointError, match="NaN or Inf"):
        checkpoints.load(tmp_path / "nan.safetensors")


def test_non_finite_gradients_stop_training_clearly(experiment_path, tmp_path):
    trainer = train(experiment_path, tmp_path / "run", 3)
    with torch.no_grad():
        next(iter(trainer.twin.weights.values()))[0, 0] = float("inf")
    with pytest.raises(TrainingDiverged, match="iteration 1: non-finite values"):
        trainer.run()


def test_existing_run_needs_resume(experiment_path, tmp_path):
    train(experiment_path, tmp_path / "run", 1).run()
    with pytest.raises(Exception, match="--resume"):
        train(experiment_path, tmp_path / "run", 2)


def test_cli_train_writes_run_folder(experiment_path, tmp_path):
    command = [sys.executable, "-m", "lsnn_bio.cli", "train", str(experiment_path), "--out", str(tmp_path / "run"),
               "--iterations", "2", "--quiet"] + [a for s in SMALL for a in ("--set", s)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["iterations"] == 2 and "test_accuracy" in summary and "test_error" in summary
    assert len([l for l in lines(tmp_path / "run") if l["split"] == "train"]) == 2


def test_resume_with_other_settings_is_refused(experiment_path, tmp_path):
    train(experiment_path, tmp_path / "run", 1).run()
    with pytest.raises(Exception, match="different settings for batch_size"):
        train(experiment_path, tmp_path / "run", 2, resume=True, settings=SMALL + ["batch_size=4"])

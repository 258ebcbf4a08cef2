"""Training runs: reproducible, resumable bit-for-bit, guarded, with honest checkpoints."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from lsnn_bio.errors import LsnnBioError
from lsnn_bio.training import Trainer, TrainingDiverged, load_experiment
from lsnn_bio.training import checkpoint as checkpoints
from lsnn_bio.training.checkpoint import CheckpointError
from lsnn_bio.training.losses import rate_regulariser, window_logits

SMALL = [
    "task.symbol_ms=20",
    "batch_size=8",
    "validation.every=2",
    "validation.batch_size=16",
    "checkpoint_every=2",
    "test_batch_size=64",
    "task.validation_sequences=24",
    "task.test_sequences=64",
    "stop=null",
    "compile=false",
]


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
    term, mean_hz = rate_regulariser(spikes, dt=1e-3, target_hz=10.0)
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


def _cli_train(out, *extra, settings=SMALL):
    command = [sys.executable, "-m", "lsnn_bio.cli", "train", "--out", str(out), "--quiet", "--threads", "1", *extra]
    return command + [a for s in settings for a in ("--set", s)]


def _interrupt(command, run, after, signum):
    """Start ``command``, send ``signum`` once iteration ``after`` is in the log; (exit status, stderr)."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 900  # generous: a busy machine must not turn this into a different test
    metrics = run / "metrics.jsonl"
    while not (metrics.exists() and f'"iteration": {after}, "split": "train"' in metrics.read_text()):
        assert process.poll() is None and time.monotonic() < deadline, f"iteration {after} never came"
        time.sleep(0.02)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=900)
    return process.returncode, stderr


def test_a_signal_checkpoints_the_last_iteration_and_resuming_gives_the_same_bytes(experiment_path, tmp_path):
    """Real signals to a real process: each checkpoints the last finished iteration, says how to resume in one
    line and exits 130 (SIGINT) or 143 (SIGTERM); resumed twice without --set, the 6-iteration run ends byte for
    byte where an uninterrupted one does. Checkpoints are otherwise far apart: only the interrupts wrote them."""
    settings = [*SMALL, "checkpoint_every=100", "checkpoint_wall_time=null"]
    straight, run = tmp_path / "straight", tmp_path / "interrupted"
    assert (
        subprocess.run(_cli_train(straight, str(experiment_path), "--iterations", "6", settings=settings)).returncode
        == 0
    )

    first = _cli_train(run, str(experiment_path), "--iterations", "6", settings=settings)
    resume = _cli_train(run, "--resume", settings=[])
    stopped = 0
    for command, signum in ((first, signal.SIGINT), (resume, signal.SIGTERM)):
        status, stderr = _interrupt(command, run, stopped + 2, signum)
        assert status == 128 + signum, stderr
        (line,) = stderr.strip().splitlines()
        previous, stopped = stopped, checkpoints.read(run / "checkpoint.safetensors").iteration
        assert previous + 2 <= stopped < 6 and f"at iteration {stopped} of 6" in line and "--resume" in line, line
        assert not (run / "summary.json").exists()
        assert [r["iteration"] for r in lines(run) if r["split"] == "train"] == list(range(1, stopped + 1))

    assert subprocess.run(resume).returncode == 0
    assert (run / "checkpoint.safetensors").read_bytes() == (straight / "checkpoint.safetensors").read_bytes()
    assert lines(run) == lines(straight)


def test_checkpoint_is_self_describing_and_refuses_damage(experiment_path, tmp_path):
    run = tmp_path / "run"
    train(experiment_path, run, 2).run()
    path = run / "checkpoint.safetensors"
    saved = checkpoints.load(path)
    assert "lsnn_store_recall.yaml" in saved.meta["documents"] and "alif_official.yaml" in saved.meta["documents"]
    assert saved.meta["experiment"]["batch_size"] == 8 and saved.meta["versions"]["torch"] == torch.__version__
    assert set(saved.state) >= {"twin", "optimizer", "torch_rng"}
    summary = json.loads((run / "summary.json").read_text())
    (test,) = [r for r in lines(run) if r["split"] == "test"]  # the test split is read once, into the summary
    assert (summary["test_accuracy"], summary["test_windows"]) == (test["accuracy"], test["windows"]) and test[
        "windows"
    ] > 0
    assert summary["test_error"] == 1 - test["accuracy"]
    assert saved.meta["experiment"]["task"]["dt_ms"] == 1.0  # every task option is recorded, the time step included

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
    assert checkpoints.read(run).meta == saved.meta  # a run folder stands for its checkpoint
    with pytest.raises(CheckpointError, match="a folder without checkpoint.safetensors"):
        checkpoints.load(tmp_path)

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


def test_existing_run_needs_resume_unless_it_is_finished(experiment_path, tmp_path):
    """A finished run was tested and cannot be resumed, so its refusal must not point at --resume."""
    train(experiment_path, tmp_path / "run", 1).run()
    with pytest.raises(LsnnBioError, match="already holds a finished run") as finished:
        train(experiment_path, tmp_path / "run", 2)
    assert "--resume" not in str(finished.value) and "--overwrite" in str(finished.value)
    (tmp_path / "run" / "summary.json").unlink()  # what an interrupted run leaves: a checkpoint, no summary
    with pytest.raises(LsnnBioError, match="already holds a run.*use --resume"):
        train(experiment_path, tmp_path / "run", 2)


@pytest.mark.parametrize("quiet", [False, True])
def test_cli_train_writes_run_folder(experiment_path, tmp_path, quiet):
    """Progress on: stderr is a pipe, as in a batch job's log, so it must get lines, not a carriage-return bar.
    With --quiet it gets nothing. Either way stdout is the summary, as JSON and nothing else."""
    command = [
        sys.executable,
        "-m",
        "lsnn_bio.cli",
        "train",
        str(experiment_path),
        "--out",
        str(tmp_path / "run"),
        "--iterations",
        "2",
    ] + [a for s in SMALL for a in ("--set", s)]
    result = subprocess.run(command + ["--quiet"] * quiet, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    if quiet:
        assert result.stderr == ""
    else:
        assert "\r" not in result.stderr and "validation" in result.stderr, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert json.loads(result.stdout) == summary
    assert summary["iterations"] == 2 and "test_accuracy" in summary and "test_error" in summary
    assert len([l for l in lines(tmp_path / "run") if l["split"] == "train"]) == 2


def test_resume_with_other_settings_is_refused(experiment_path, tmp_path, capsys):
    from lsnn_bio.cli import main

    train(experiment_path, tmp_path / "run", 1).run()
    with pytest.raises(LsnnBioError, match="different settings for batch_size"):
        train(experiment_path, tmp_path / "run", 2, resume=True, settings=SMALL + ["batch_size=4"])
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--set", "batch_size=4"]) == 2
    assert "keeps the settings it started with" in capsys.readouterr().err


class SplitSpy:
    """A real task that records, in order, every split the trainer asks it for and how many training batches preceded."""

    def __init__(self, task):
        self.task, self.calls, self.train_draws = task, [], 0

    def __getattr__(self, name):
        return getattr(self.task, name)

    def batch(self, split, size, rng):
        self.calls.append(("batch", split, self.train_draws))
        self.train_draws += split == "train"
        return self.task.batch(split, size, rng)

    def batches(self, split, size):
        self.calls.append(("batches", split, self.train_draws))
        return self.task.batches(split, size)

    def split_size(self, split):
        self.calls.append(("split_size", split, self.train_draws))
        return self.task.split_size(split)


def spied_trainer(path, out, iterations, settings=SMALL):
    experiment = load_experiment(path, settings=settings)
    made = experiment.task
    spies = []

    def task(dt=None):
        spies.append(SplitSpy(made(dt)))
        return spies[-1]

    experiment.task = task
    return Trainer(experiment, out, iterations=iterations, progress=False), spies


@pytest.mark.parametrize("stop", [None, 1.0])
def test_the_test_split_is_read_once_after_training_and_validation_decides(experiment_path, tmp_path, stop):
    settings = SMALL + ([f"stop.validation_error_below={stop}"] if stop else [])
    trainer, spies = spied_trainer(experiment_path, tmp_path / "run", 5, settings)
    summary = trainer.run()
    calls = spies[0].calls
    trained = 2 if stop else 5  # an error below 1 (not all wrong) stops at the first validation, after iteration 2
    assert summary["iterations"] == trained and summary["stopped_early"] == bool(stop)
    last_train = max(i for i, call in enumerate(calls) if call[:2] == ("batch", "train"))
    test_calls = [i for i, call in enumerate(calls) if call[1] == "test"]
    assert [calls[i][:2] for i in test_calls] == [("batches", "test")], (
        calls
    )  # the whole test split, once, no random draws
    assert test_calls[0] > last_train and calls[test_calls[0]][2] == trained
    assert test_calls[0] == len(calls) - 1  # nothing is asked of the task after the test split
    validations = [call[2] for call in calls if call[1] == "validation"]
    assert validations == ([2] if stop else [2, 4, 5])  # every decision point looked at validation, whole split
    assert all(call[0] == "batches" for call in calls if call[1] == "validation")

    records = lines(tmp_path / "run")
    assert [r["split"] for r in records].count("test") == 1 and records[-1]["split"] == "test"
    final_validation = [r for r in records if r["split"] == "validation"][-1]
    assert final_validation["iteration"] == trained and final_validation["trials"] == 24
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    for key in ("accuracy", "error", "windows", "loss", "rate_hz"):
        assert written[f"validation_{key}"] == final_validation[key]
        assert written[f"test_{key}"] == records[-1][key]
    assert written["test_windows"] >= 64 and written["validation_windows"] >= 24


def test_a_finished_run_cannot_be_trained_further_and_draws_its_learning_curve(experiment_path, tmp_path):
    train(experiment_path, tmp_path / "run", 2).run()
    with pytest.raises(LsnnBioError, match="is finished and its test split was read"):
        train(experiment_path, tmp_path / "run", 4, resume=True)
    script = experiment_path.parent.parent / "analysis" / "learning_curve.py"
    drawn = subprocess.run(
        [
            sys.executable,
            str(script),
            str(tmp_path / "run"),
            str(tmp_path / "run"),
            "--out",
            str(tmp_path / "curve.png"),
        ],
        capture_output=True,
        text=True,
    )
    assert drawn.returncode == 0, drawn.stderr
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (
        tmp_path / "curve.png"
    ).stat().st_size > 20_000
    missing = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "--out", str(tmp_path / "x.png")], capture_output=True, text=True
    )
    assert missing.returncode != 0 and "no metrics.jsonl" in missing.stderr


def test_time_step_of_task_and_network_must_agree(experiment_path, models, tmp_path):
    finer = SMALL + ["network_overrides.dt=0.5 ms"]
    trainer = train(experiment_path, tmp_path / "fine", 1, settings=finer)  # store-recall renders itself at 0.5 ms
    assert trainer.task.dt_ms == 0.5 and trainer.task.steps == 2 * 12 * 20
    with pytest.raises(LsnnBioError, match="steps of 1 ms but network 'lsnn_store_recall.yaml' has dt = 0.5 ms"):
        train(experiment_path, tmp_path / "pinned", 1, settings=finer + ["task.dt_ms=1"])
    digits = models.parent / "training" / "seq_digits.yaml"
    with pytest.raises(LsnnBioError, match="sequential_digits' .*defined at 1 ms only"):
        train(digits, tmp_path / "digits", 1, settings=["network_overrides.dt=0.5 ms"])
    assert not (tmp_path / "pinned").exists() and not (tmp_path / "digits").exists()


def test_cli_names_a_missing_data_folder_in_one_line(models, tmp_path):
    document = models.parent / "training" / "smnist_t10k.yaml"
    command = [
        sys.executable,
        "-m",
        "lsnn_bio.cli",
        "train",
        str(document),
        "--out",
        str(tmp_path / "run"),
        "--set",
        f"task.folder={tmp_path / 'no_mnist'}",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (
        f"data folder {tmp_path / 'no_mnist'} does not exist" in result.stderr and "--set task.folder" in result.stderr
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("wall, saved", [("1 ms", [1, 2, 3]), ("null", [3])])
def test_checkpoints_also_follow_wall_time_and_the_test_has_its_own_line(
    experiment_path, tmp_path, monkeypatch, capsys, wall, saved
):
    """checkpoint_every is far away: only the wall-clock interval can checkpoint before the end. The final test
    evaluation announces itself in one line and draws its own progress bar (progress=True)."""
    trainer = Trainer(
        load_experiment(experiment_path, settings=[*SMALL, "checkpoint_every=100", f"checkpoint_wall_time={wall}"]),
        tmp_path / "run",
        iterations=3,
        progress=True,
    )
    iterations, original = [], Trainer.save

    def save(self):
        iterations.append(self.iteration)
        original(self)

    monkeypatch.setattr(Trainer, "save", save)
    trainer.run()
    assert iterations == saved
    assert "testing on 64 held-out test trials ..." in capsys.readouterr().err

"""Every foreseeable mistake is one line, ``lsnn-bio CMD: ...``, exit status 2, and changes nothing.

Each case runs ``lsnn_bio.cli.main`` in this process (fast) on a mistake a new user makes and
asserts the exit status, the words that say what was wrong and what is accepted, that stderr is
one line without a traceback, and that neither the output folder nor the system temp folder
changed. Signals need a process of their own (the last tests).
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lsnn_bio.cli import main

ROOT = Path(__file__).resolve().parent.parent
STORE_RECALL = ROOT / "training" / "store_recall.yaml"
T10K = ROOT / "training" / "smnist_t10k.yaml"
SMNIST_MODEL = ROOT / "models" / "lsnn_smnist.yaml"
FAST = ["--set", "compile=false", "--set", "task.symbol_ms=20"]

EXPERIMENT = """experiment: mine
model: {model}
task: {{name: store_recall, symbol_ms: 20}}
iterations: 10
rate_regulariser: {{coefficient: 0.01, target: 10 Hz}}
{extra}
"""


def experiment(tmp, extra="", model=ROOT / "models" / "lsnn_store_recall.yaml"):
    path = tmp / "inputs" / "experiment.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(EXPERIMENT.format(model=model, extra=extra))
    return path


def write(tmp, name, data):
    path = tmp / "inputs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return path


def big_model(tmp):
    text = SMNIST_MODEL.read_text().replace("size: 100", "size: 1000000000", 1)
    assert text != SMNIST_MODEL.read_text()
    path = write(tmp, "big.yaml", text)
    for neuron in ("lif_official.yaml", "alif_official.yaml", "readout.yaml", "lif.yaml", "alif.yaml"):
        source = ROOT / "models" / neuron
        if source.exists():
            write(tmp, neuron, source.read_text())
    return path


def train(*args):
    return lambda tmp, out, ckpt: ["train", str(STORE_RECALL), "--out", str(out / "run"), *FAST, *args]


def train_doc(extra="", *args, **kwargs):
    return lambda tmp, out, ckpt: ["train", str(experiment(tmp, extra, **kwargs)), "--out", str(out / "run"), *args]


def train_sets(*settings):
    return train(*[a for s in settings for a in ("--set", s)])


# (id, argv builder (tmp inputs folder, output folder, checkpoint) -> argv, words stderr must contain)
CASES = [
    # learning rates, optimiser, seed: the tracebacks of the issue
    ("lr-negative", train_sets("optimizer.learning_rate=-1"), ["optimizer.learning_rate", "> 0"]),
    ("lr-string", train_sets("optimizer.learning_rate=fast"), ["optimizer.learning_rate", "expected a number"]),
    ("lr-zero", train_sets("optimizer.learning_rate=0"), ["optimizer.learning_rate", "out of range"]),
    ("optimizer-number", train_sets("optimizer=0.01"), ["--set optimizer=0.01", "expected a mapping", "learning_rate"]),
    ("seed-section", train_sets("seed.x=3"), ["--set seed.x=3", "not a section", "--set seed=VALUE"]),
    ("seed-negative", train_sets("seed=-1"), ["seed", ">= 0"]),
    # FAST sets task.symbol_ms first, a name the refusal lists among the accepted options: the misspelled one is blamed
    ("task-option-misspelled", train_sets("task.sed=3"), ["--set task.sed=3", "unknown option sed"]),
    ("seed-fraction", train_sets("seed=1.5"), ["seed", "whole number"]),
    ("decay-above-one", train_sets("optimizer.decay_factor=2"), ["decay_factor", "(0, 1]"]),
    ("betas-one", train_sets("optimizer.betas=[0.9]"), ["betas", "two numbers"]),
    ("eps-negative", train_sets("optimizer.eps=-1e-8"), ["optimizer.eps", "> 0"]),
    ("optimizer-unknown", train_sets("optimizer.lr=0.1"), ["unknown key 'lr'", "learning_rate"]),
    # counts
    ("iterations-zero", train("--iterations", "0"), ["--iterations", "1 or more"]),
    ("iterations-negative", train("--iterations", "-5"), ["--iterations", "1 or more"]),
    ("iterations-text", train("--iterations", "many"), ["--iterations", "whole number"]),
    ("iterations-set-zero", train_sets("iterations=0"), ["iterations", ">= 1"]),
    ("batch-zero", train_sets("batch_size=0"), ["batch_size", ">= 1"]),
    ("batch-boolean", train_sets("batch_size=true"), ["batch_size", "whole number"]),
    ("validation-every-zero", train_sets("validation.every=0"), ["validation.every", ">= 1"]),
    ("checkpoint-every-zero", train_sets("checkpoint_every=0"), ["checkpoint_every", ">= 1"]),
    ("threads-zero", train("--threads", "0"), ["--threads", "1 or more"]),
    # units and dimensions
    ("rate-target-as-time", train_sets("rate_regulariser.target=10 ms"), ["rate_regulariser.target", "Hz", "s"]),
    ("rate-target-no-unit", train_sets("rate_regulariser.target=10"), ["rate_regulariser.target", "no unit", "10 Hz"]),
    ("rate-target-bad-unit", train_sets("rate_regulariser.target=10 hertzz"), ["unknown unit 'hertzz'"]),
    ("rate-coefficient-negative", train_sets("rate_regulariser.coefficient=-1"), ["coefficient", ">= 0"]),
    ("wall-time-as-rate", train_sets("checkpoint_wall_time=5 Hz"), ["checkpoint_wall_time", "time"]),
    ("gamma-nan", train_sets("pseudo_derivative.gamma=.nan"), ["pseudo_derivative.gamma", "finite"]),
    ("width-negative", train_sets("pseudo_derivative.width=-1"), ["pseudo_derivative.width", "> 0"]),
    ("surrogate-unknown", train_sets("pseudo_derivative.function=relu"), ["relu", "triangle, fast_sigmoid"]),
    ("stop-as-percent", train_sets("stop.validation_error_below=5"), ["validation_error_below", "(0, 1]"]),
    ("connectivity-above-one", train_sets("rewiring.connectivity=1.5"), ["rewiring.connectivity", "(0, 1]"]),
    ("gradient-clip-negative", train_sets("gradient_clip=-1"), ["gradient_clip", "> 0"]),
    ("dtype-half", train_sets("dtype=float16"), ["dtype", "float32, float64"]),
    ("compile-number", train_sets("compile=1"), ["compile", "true or false"]),
    # keys
    ("key-unknown", train_sets("learning_rate=0.1"), ["unknown key 'learning_rate'", "optimizer"]),
    ("set-without-value", train("--set", "iterations"), ["--set iterations", "key=value"]),
    ("task-unknown", train_sets("task.name=mnistt"), ["task", "unknown task", "store_recall"]),
    ("task-option-unknown", train_sets("task.symbols=3"), ["task", "unknown option", "symbol_ms"]),
    (
        "task-option-negative",
        train_sets("task.n_symbols=4", "task.symbol_ms=-5"),
        ["--set task.symbol_ms=-5", "symbol_ms"],
    ),
    (
        "task-option-in-document",
        lambda tmp, out, ckpt: [
            "train",
            str(
                write(
                    tmp,
                    "t.yaml",
                    EXPERIMENT.format(model=ROOT / "models" / "lsnn_store_recall.yaml", extra="").replace(
                        "symbol_ms: 20", "symbol_ms: -20"
                    ),
                )
            ),
            "--out",
            str(out / "run"),
        ],
        ["t.yaml:3", "symbol_ms=-20"],
    ),
    ("input-unknown", train_sets("input=nope"), ["'input'", "symbols"]),
    (
        "resume-another-document",
        lambda tmp, out, ckpt: [
            "train",
            str(ROOT / "training" / "store_recall_lif.yaml"),
            "--out",
            str(ckpt.parent),
            "--resume",
        ],
        ["--resume", "stored in its checkpoint"],
    ),
    (
        "resume-a-finished-run",
        lambda tmp, out, ckpt: ["train", "--out", str(ckpt.parent), "--resume"],
        ["is finished", "test split"],
    ),
    (
        "compare-trials-text",
        lambda tmp, out, ckpt: [
            "compare",
            str(tmp / "a.nix"),
            str(tmp / "b.nix"),
            "--out",
            str(out / "c"),
            "--trials",
            "abc",
        ],
        ["--trials", "0,3,5"],
    ),
    ("override-unknown", train_sets("network_overrides.populations.ALIF.sise=3"), ["sise", "refractory, size"]),
    # documents
    (
        "document-missing",
        lambda tmp, out, ckpt: ["train", str(tmp / "nope.yaml"), "--out", str(out / "run")],
        ["nope.yaml", "file not found"],
    ),
    (
        "document-not-utf8",
        lambda tmp, out, ckpt: [
            "train",
            str(write(tmp, "latin.yaml", "experiment: caf\xe9\n".encode("latin-1"))),
            "--out",
            str(out / "run"),
        ],
        ["latin.yaml:1", "not UTF-8", "0xe9"],
    ),
    (
        "document-not-yaml",
        lambda tmp, out, ckpt: [
            "train",
            str(write(tmp, "bad.yaml", "experiment: [unclosed\n")),
            "--out",
            str(out / "run"),
        ],
        ["bad.yaml", "not valid YAML"],
    ),
    (
        "document-a-list",
        lambda tmp, out, ckpt: ["train", str(write(tmp, "list.yaml", "- experiment\n")), "--out", str(out / "run")],
        ["list.yaml", "top-level 'experiment'"],
    ),
    ("document-negative-line", train_doc("seed: 3\nbatch_size: -5"), ["experiment.yaml:7", "batch_size", ">= 1"]),
    (
        "document-rate-as-time-line",
        lambda tmp, out, ckpt: [
            "train",
            str(
                write(
                    tmp,
                    "e.yaml",
                    EXPERIMENT.format(model=ROOT / "models" / "lsnn_store_recall.yaml", extra="").replace(
                        "10 Hz", "10 ms"
                    ),
                )
            ),
            "--out",
            str(out / "run"),
        ],
        ["e.yaml:5", "rate_regulariser.target", "Hz"],
    ),
    (
        "document-missing-model-key",
        lambda tmp, out, ckpt: [
            "train",
            str(write(tmp, "m.yaml", "experiment: x\ntask: {name: store_recall}\n")),
            "--out",
            str(out / "run"),
        ],
        ["missing key 'model'"],
    ),
    ("model-file-missing", train_sets("model=../models/nope.yaml"), ["nope.yaml", "not found"]),
    (
        "model-not-utf8",
        lambda tmp, out, ckpt: [
            "train",
            str(experiment(tmp, model=write(tmp, "model.yaml", b"network: \xff\xfe\n"))),
            "--out",
            str(out / "run"),
        ],
        ["model.yaml:1", "not UTF-8"],
    ),
    (
        "size-beyond-memory",
        train_sets("network_overrides.populations.ALIF.size=1000000000"),
        ["populations.ALIF.size", "GiB", "more than this machine"],
    ),
    (
        "mnist-folder-missing",
        lambda tmp, out, ckpt: [
            "train",
            str(T10K),
            "--out",
            str(out / "run"),
            "--set",
            f"task.folder={tmp / 'no_mnist'}",
        ],
        ["no_mnist", "does not exist", "--set task.folder"],
    ),
    # the run folder
    (
        "out-under-a-file",
        lambda tmp, out, ckpt: ["train", str(STORE_RECALL), "--out", str(write(tmp, "f", "") / "run")],
        ["is a file, not a folder"],
    ),
    (
        "out-is-a-file",
        lambda tmp, out, ckpt: ["train", str(STORE_RECALL), "--out", str(write(tmp, "f", ""))],
        ["is a file, not a folder"],
    ),
    (
        "out-holds-a-run",
        lambda tmp, out, ckpt: ["train", str(STORE_RECALL), "--out", str(ckpt.parent)],
        ["already holds a finished run", "--overwrite"],
    ),
    (
        "resume-nothing",
        lambda tmp, out, ckpt: ["train", "--out", str(out), "--resume"],
        ["--resume", "no checkpoint.safetensors"],
    ),
    (
        "resume-and-overwrite",
        lambda tmp, out, ckpt: ["train", "--out", str(ckpt.parent), "--resume", "--overwrite"],
        ["choose one"],
    ),
    (
        "resume-with-set",
        lambda tmp, out, ckpt: ["train", "--out", str(ckpt.parent), "--resume", "--set", "batch_size=4"],
        ["--set batch_size=4", "--iterations"],
    ),
    (
        "no-document",
        lambda tmp, out, ckpt: ["train", "--out", str(out / "run")],
        ["no experiment document", "--resume"],
    ),
    ("device-unknown", train("--device", "tpu"), ["--device tpu", "not a torch device", "cpu"]),
    ("no-out", lambda tmp, out, ckpt: ["train", str(STORE_RECALL)], ["--out", "required"]),
    # validate
    (
        "validate-missing",
        lambda tmp, out, ckpt: ["validate", str(tmp / "none.safetensors"), "--engine", "numpy"],
        ["none.safetensors", "no such checkpoint"],
    ),
    (
        "validate-folder-without-checkpoint",
        lambda tmp, out, ckpt: ["validate", str(write(tmp, "notes.txt", "").parent), "--engine", "numpy"],
        ["inputs", "a folder without checkpoint.safetensors", "a run folder or a checkpoint"],
    ),
    (
        "validate-not-a-checkpoint",
        lambda tmp, out, ckpt: ["validate", str(write(tmp, "x.safetensors", b"\x80\x04junk")), "--engine", "numpy"],
        ["x.safetensors", "not a readable checkpoint"],
    ),
    (
        "validate-trials-zero",
        lambda tmp, out, ckpt: ["validate", str(ckpt), "--trials", "0"],
        ["--trials", "1 or more"],
    ),
    (
        "validate-build-dir-a-file",
        lambda tmp, out, ckpt: ["validate", str(ckpt), "--build-dir", str(write(tmp, "f", "") / "b")],
        ["--build-dir", "is a file"],
    ),
    (
        "validate-engine-as-device",
        lambda tmp, out, ckpt: ["validate", str(ckpt), "--device", "numpy"],
        ["--device numpy", "--engine numpy"],
    ),
    # simulate
    (
        "simulate-unknown-format",
        lambda tmp, out, ckpt: ["simulate", str(ckpt), "--trials", "1", "--out", str(out / "a.txt")],
        ["--out", "'.txt'", ".nix"],
    ),
    (
        "simulate-out-under-a-file",
        lambda tmp, out, ckpt: ["simulate", str(ckpt), "--trials", "1", "--out", str(write(tmp, "f", "") / "a.nix")],
        ["is a file, not a folder"],
    ),
    (
        "simulate-out-folder-missing",
        lambda tmp, out, ckpt: ["simulate", str(ckpt), "--trials", "1", "--out", str(out / "no" / "a.nix")],
        ["does not exist"],
    ),
    (
        "simulate-out-is-a-folder",
        lambda tmp, out, ckpt: ["simulate", str(ckpt), "--trials", "1", "--out", str(write(tmp, "d.nix", "").parent)],
        ["--out", "unknown file type"],
    ),
    (
        "simulate-raster-jpeg",
        lambda tmp, out, ckpt: [
            "simulate",
            str(ckpt),
            "--trials",
            "1",
            "--out",
            str(out / "a.nix"),
            "--raster",
            str(out / "r.jpg"),
        ],
        ["--raster", "'.jpg'", ".png"],
    ),
    (
        "simulate-trials-negative",
        lambda tmp, out, ckpt: ["simulate", str(ckpt), "--trials", "-1", "--out", str(out / "a.nix")],
        ["--trials", "1 or more"],
    ),
    (
        "simulate-unknown-variable",
        lambda tmp, out, ckpt: [
            "simulate",
            str(ckpt),
            "--trials",
            "1",
            "--record",
            "zz",
            "--out",
            str(out / "a.nix"),
            "--engine",
            "numpy",
        ],
        ["'zz'", "accepted"],
    ),
    # compare
    (
        "compare-pickle",
        lambda tmp, out, ckpt: [
            "compare",
            str(write(tmp, "a.pkl", b"x")),
            str(write(tmp, "b.pkl", b"x")),
            "--out",
            str(out / "c"),
        ],
        ["pickle", "--allow-pickle"],
    ),
    (
        "compare-missing",
        lambda tmp, out, ckpt: ["compare", str(tmp / "a.nix"), str(tmp / "b.nix"), "--out", str(out / "c")],
        ["a.nix"],
    ),
    (
        "compare-out-a-file",
        lambda tmp, out, ckpt: ["compare", str(tmp / "a.nix"), str(tmp / "b.nix"), "--out", str(write(tmp, "f", ""))],
        ["--out", "is a file"],
    ),
    # check
    (
        "check-model-missing",
        lambda tmp, out, ckpt: ["check", str(tmp / "nope.yaml"), "--engines", "numpy"],
        ["nope.yaml", "file not found"],
    ),
    ("check-steps-zero", lambda tmp, out, ckpt: ["check", str(SMNIST_MODEL), "--steps", "0"], ["--steps", "1 or more"]),
    ("check-rate-nan", lambda tmp, out, ckpt: ["check", str(SMNIST_MODEL), "--rate", "nan"], ["--rate", "finite"]),
    (
        "check-engine-unknown",
        lambda tmp, out, ckpt: ["check", str(SMNIST_MODEL), "--engines", "numpy,gpu9"],
        ["gpu9", "twin64"],
    ),
    (
        "check-build-dir-a-file",
        lambda tmp, out, ckpt: ["check", str(SMNIST_MODEL), "--build-dir", str(write(tmp, "f", ""))],
        ["--build-dir", "is a file"],
    ),
    (
        "check-size-beyond-memory",
        lambda tmp, out, ckpt: ["check", str(big_model(tmp)), "--engines", "numpy"],
        ["big.yaml", "GiB", "more than this machine"],
    ),
    # the command line itself
    ("command-unknown", lambda tmp, out, ckpt: ["trian"], ["invalid choice", "train"]),
]


def snapshot(folder):
    return (
        sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*")) if folder.exists() else None
    )


@pytest.mark.parametrize("build, words", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_mistake_is_one_line_and_changes_nothing(build, words, tmp_path, trained_run, capsys, monkeypatch):
    inputs, out, temporary = tmp_path / "inputs", tmp_path / "out", tmp_path / "tmp"
    for folder in (inputs, out, temporary):
        folder.mkdir()
    argv = build(inputs, out, trained_run)
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.setenv("TMPDIR", str(temporary))
    before, run_before = snapshot(out), snapshot(trained_run.parent)
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit:  # argparse's own complaints
        status = exit.code
    stderr = capsys.readouterr().err
    assert status == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    assert stderr.startswith(f"lsnn-bio {argv[0] if argv[0] != 'trian' else ''}".rstrip()), stderr
    for word in words:
        assert word in stderr, (word, stderr)
    assert snapshot(out) == before and snapshot(trained_run.parent) == run_before
    assert list(temporary.iterdir()) == []


def test_there_are_at_least_fifty_cases():
    assert len(CASES) >= 50 and len({case[0] for case in CASES}) == len(CASES)


def test_debug_shows_the_traceback_and_version_is_one_line(capsys):
    assert main(["--debug", "train", str(STORE_RECALL), "--out", "/nonexistent/x", "--set", "seed.x=3"]) == 2
    stderr = capsys.readouterr().err
    assert "Traceback" in stderr and stderr.strip().splitlines()[-1].startswith("lsnn-bio train: --set seed.x=3")
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out.strip().startswith("lsnn-bio 0.")


def test_a_failed_run_leaves_the_folder_as_it_found_it(tmp_path, capsys):
    """Failures after start-up: a first iteration with infinite weights (a new folder: not created; an old run replaced with
    --overwrite: put back as it was) and stale temporaries of a killed write (removed on the next start)."""
    diverge = [
        *FAST,
        "--set",
        "network_overrides.projections.readout.weights.scale=1e200",
        "--set",
        "batch_size=2",
        "--iterations",
        "2",
        "--quiet",
    ]
    fresh = tmp_path / "fresh"
    assert main(["train", str(STORE_RECALL), "--out", str(fresh), *diverge]) == 2
    assert "non-finite values" in capsys.readouterr().err
    assert not fresh.exists()

    old = tmp_path / "old"
    old.mkdir()
    (old / "metrics.jsonl").write_text('{"iteration": 1, "split": "train"}\n')
    (old / "notes.txt").write_text("mine")
    stale = old / ".checkpoint.safetensors.999999999.abcdefgh.tmp.safetensors"
    stale.write_bytes(b"half")
    before = snapshot(old)
    assert main(["train", str(STORE_RECALL), "--out", str(old), *diverge]) == 2  # holds a run
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", str(STORE_RECALL), "--out", str(old), "--overwrite", *diverge]) == 2
    assert [name for name, _ in snapshot(old)] == sorted(name for name, _ in before if name != stale.name)
    assert (old / "metrics.jsonl").read_text() == '{"iteration": 1, "split": "train"}\n'


def test_ctrl_c_outside_training_is_one_line_and_status_130(tmp_path):
    command = [
        sys.executable,
        "-m",
        "lsnn_bio.cli",
        "check",
        str(SMNIST_MODEL),
        "--engines",
        "numpy",
        "--steps",
        "200000",
    ]
    environment = dict(os.environ, TMPDIR=str(tmp_path))
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=environment)
    line = process.stderr.readline()  # "[check] numpy ..." once the run has started
    assert "numpy" in line
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["lsnn-bio check: interrupted (SIGINT)"], stderr


def test_the_readme_documents_every_experiment_key_and_the_twins_pseudo_derivatives():
    from lsnn_bio.training.experiment import OPTIONAL_SECTIONS, PSEUDO_DERIVATIVES, SCHEMA
    from lsnn_bio.twin.surrogates import PSEUDO_DERIVATIVES as TWINS

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Experiment documents") : readme.index("**Run folders.**")]
    for key, entry in SCHEMA.items():
        names = [f"{key}.{sub}" for sub in entry] if isinstance(entry, dict) else [key]
        for name in names:
            assert f"`{name}`" in table, name
    for key, section in OPTIONAL_SECTIONS.items():
        for sub in section:
            assert sub in table, (key, sub)
    assert set(PSEUDO_DERIVATIVES) == set(TWINS)


def test_loading_validating_and_simulating_a_checkpoint_leave_the_temp_folder_as_it_was(
    trained_run, tmp_path, monkeypatch, capsys
):
    """On the numpy engine (no build folder by design): whatever else they make in the temp folder is a leak."""
    from lsnn_bio.trained import load_trained

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.setenv("TMPDIR", str(temporary))
    load_trained(trained_run)
    assert main(["validate", str(trained_run), "--engine", "numpy", "--trials", "2", "--json"]) == 0
    assert (
        main(["simulate", str(trained_run), "--engine", "numpy", "--trials", "1", "--out", str(tmp_path / "a.nix")])
        == 0
    )
    assert (tmp_path / "a.nix").stat().st_size > 0 and list(temporary.iterdir()) == []


def test_recipes_end_in_one_line_on_an_error_an_interrupt_or_a_reader_that_stopped(capsys):
    """``one_line_errors``, which the analysis recipes run under: no traceback for an error meant for people, for
    Ctrl-C, or for ``recipe --json | head`` once head has what it wants."""
    from lsnn_bio.errors import LsnnBioError, one_line_errors

    with pytest.raises(SystemExit, match=r"^recipe: bad input \(accepted: good\)$"):
        with one_line_errors("recipe"):
            raise LsnnBioError("bad input (accepted: good)")
    with pytest.raises(SystemExit) as stop:
        with one_line_errors("recipe"):
            raise KeyboardInterrupt
    assert stop.value.code == 130 and capsys.readouterr().err == "recipe: interrupted\n"
    with pytest.raises(SystemExit, match=r"^recipe: /nowhere/f.png: No such file or directory$"):
        with one_line_errors("recipe"):
            open("/nowhere/f.png", "w")
    code = "from lsnn_bio.errors import one_line_errors\nwith one_line_errors('recipe'):\n    for _ in range(10**5): print('x' * 80)"
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    writer.stdout.read(100)
    writer.stdout.close()  # the reader stops, as head does
    stderr = writer.stderr.read().decode()
    assert writer.wait(timeout=60) == 1 and stderr == "", stderr

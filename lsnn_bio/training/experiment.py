"""Experiment documents (``training/*.yaml``): which model, task, optimiser, schedule, rewiring, seed.

The loaded experiment keeps the exact text of every document it used, so a
checkpoint can rebuild the same network later without the original files
(:func:`experiment_from_documents` reads them from memory).
"""

import copy
import inspect
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..documents import load_network
from ..errors import DocumentError
from ..units import MS, parse_quantity, seconds

DEFAULTS = {
    "description": "",
    "network_overrides": {},
    "input": None,
    "readout": None,
    "seed": 0,
    "iterations": 100,
    "batch_size": 32,
    "dtype": "float32",
    "compile": True,
    "optimizer": {"learning_rate": 0.01, "decay_factor": 1.0, "decay_every": 1000},
    "rate_regulariser": {"coefficient": 0.0, "target": "10 Hz"},
    "rewiring": None,
    "gradient_clip": None,
    "validation": {"every": 50, "batch_size": 128},
    "stop": None,
    "checkpoint_every": 50,
    "pseudo_derivative": {"function": "triangle", "gamma": 0.3, "width": 1.0},
    "test_batch_size": 256,
    "actor_critic": None,  # closed-loop tasks only; keys and defaults in training/a2c.py
}
REQUIRED = ("experiment", "model", "task")
SECTIONS = {
    "optimizer": {"learning_rate", "decay_factor", "decay_every", "betas", "eps"},
    "rate_regulariser": {"coefficient", "target"},
    "rewiring": {"connectivity", "l1", "temperature"},
    "validation": {"every", "batch_size"},
    "stop": {"validation_error_below"},
    "pseudo_derivative": {"function", "gamma", "width"},
    "actor_critic": {
        "policy",
        "value",
        "decision_ms",
        "discount",
        "gae_lambda",
        "value_weight",
        "entropy",
        "initial_std",
    },
}


@dataclass
class Experiment:
    """One experiment document, validated: the settings of one training run and the documents it reads.

    It rebuilds its network and task on demand rather than holding them, so a run, its
    resumption and a checkpoint read years later all build them the same way.
    """

    config: dict  # validated, defaults filled in, --set applied
    source: str  # the experiment document's path (for a checkpoint's experiment: the checkpoint's)
    documents: dict  # file name -> text: the experiment and every model document
    stored: bool = False  # the documents come from a checkpoint: read them, not the files

    @property
    def name(self):
        """The experiment's name, as progress bars and summaries show it."""
        return self.config["experiment"]

    def network(self):
        """The NetworkSpec this experiment trains (weights drawn from its seed)."""
        path = Path(self.config["model"]).name if self.stored else self.model_path
        return load_network(
            path,
            seed=self.config["seed"],
            overrides=self.config["network_overrides"],
            documents=self.documents if self.stored else None,
        )

    @property
    def model_path(self):
        """The network document, relative to the experiment document (as the document names it)."""
        return Path(self.source).parent / self.config["model"]

    def task(self, dt=None):
        """The task, at the network's time step ``dt`` (seconds; default: the model document's).

        A task that takes a ``dt_ms`` option and is not given one is rendered at the network's
        time step; any other mismatch between the two is refused here, before any training or
        simulation, because it would otherwise run without a word.
        """
        from ..errors import LsnnBioError
        from ..tasks import TASKS, check_time_step, make_task

        dt_ms = seconds(self.network().dt if dt is None else dt, "dt") / MS
        name = self.config["task"]["name"]
        options = {k: v for k, v in self.config["task"].items() if k != "name"}
        if name in TASKS and "dt_ms" in inspect.signature(TASKS[name]).parameters and "dt_ms" not in options:
            options["dt_ms"] = dt_ms
        try:
            task = make_task(name, **options)
            check_time_step(task, dt_ms, f"network '{Path(self.config['model']).name}'")
        except (TypeError, ValueError, LsnnBioError) as error:
            raise DocumentError(self.source, "task", str(error)) from None
        return task


def load_experiment(path, settings=()):
    """Read an experiment document, apply ``key.path=value`` settings, validate it."""
    path = Path(path)
    if not path.is_file():
        raise DocumentError(str(path), None, "file not found", "a path to an experiment .yaml document")
    text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DocumentError(str(path), None, f"not valid YAML: {error}") from None
    if not isinstance(data, dict) or "experiment" not in data:
        raise DocumentError(str(path), None, "expected a mapping with a top-level 'experiment' key")
    for setting in settings:
        _apply_setting(data, setting, path)
    return experiment_from_dict(data, path, {path.name: text})


def experiment_from_dict(data, source, documents):
    """Validate a parsed experiment document (``--set`` already applied) and build its network once, so every
    mistake, the model's included, is reported before training starts."""
    config = copy.deepcopy(DEFAULTS)
    for key, value in data.items():
        if key not in DEFAULTS and key not in REQUIRED:
            raise DocumentError(
                str(source), key, f"unknown key '{key}'", ", ".join(sorted(set(DEFAULTS) | set(REQUIRED)))
            )
        if key in SECTIONS and isinstance(value, dict):
            unknown = set(value) - SECTIONS[key]
            if unknown:
                raise DocumentError(
                    str(source), f"{key}.{sorted(unknown)[0]}", "unknown key", ", ".join(sorted(SECTIONS[key]))
                )
            config[key] = {**(config[key] or {}), **value}
        else:
            config[key] = value
    for key in REQUIRED:
        if key not in data:
            raise DocumentError(str(source), key, "missing")
    if not isinstance(config["task"], dict) or "name" not in config["task"]:
        raise DocumentError(
            str(source), "task", "expected a mapping with a 'name'", "store_recall, sequential_digits, sequential_mnist"
        )
    for key in ("iterations", "batch_size", "checkpoint_every", "test_batch_size"):
        if not isinstance(config[key], int) or config[key] <= 0:
            raise DocumentError(str(source), key, f"expected a positive whole number, got {config[key]!r}")
    if config["dtype"] not in ("float32", "float64"):
        raise DocumentError(str(source), "dtype", f"'{config['dtype']}' is not supported", "float32, float64")
    if not isinstance(config["compile"], bool):
        raise DocumentError(
            str(source),
            "compile",
            f"expected true or false, got {config['compile']!r}",
            "true (fuse the twin's step with torch.compile) or false",
        )
    try:
        config["rate_regulariser"]["target_hz"] = float(parse_quantity(config["rate_regulariser"]["target"]))
    except ValueError as error:
        raise DocumentError(str(source), "rate_regulariser.target", str(error), "e.g. '10 Hz'") from None
    model = Path(source).parent / str(config["model"])
    if not model.is_file():
        raise DocumentError(
            str(source), "model", f"network document '{model}' not found", "a path relative to the experiment document"
        )
    experiment = Experiment(config=config, source=str(source), documents=dict(documents))
    spec = experiment.network()  # validates the model and overrides now, not at iteration 1
    experiment.documents.update(spec.documents)
    return experiment


def experiment_from_documents(config, documents, source="checkpoint"):
    """Rebuild an Experiment from a checkpoint's stored settings and documents, in memory (no original files needed)."""
    return Experiment(config=copy.deepcopy(config), source=str(source), documents=dict(documents), stored=True)


def _apply_setting(data, setting, path):
    if "=" not in setting:
        raise DocumentError(str(path), setting, "a --set needs key=value", "e.g. optimizer.learning_rate=0.005")
    key, raw = setting.split("=", 1)
    value = yaml.safe_load(raw)
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value

"""Experiment documents (``training/*.yaml``): which model, task, optimiser, schedule, rewiring, seed.

The loaded experiment keeps the exact text of every document it used, so a
checkpoint can rebuild the same network later without the original files
(:func:`experiment_from_documents` reads them from memory).
"""

import copy
import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..documents import load_network
from ..documents.source import Document
from ..errors import DocumentError
from ..units import MS, describe_dimensions, parse_quantity, seconds

PSEUDO_DERIVATIVES = ("triangle", "fast_sigmoid", "gaussian", "arctan")  # twin/surrogates.py (torch-free here)


class Key:
    """One key of the experiment document: its default (``REQUIRED`` if none), its check, what it accepts."""

    def __init__(self, default, check, accepted):
        self.default, self.check, self.accepted = default, check, accepted


REQUIRED = object()


def _text(value):
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {_shown(value)}")
    return value


def _whole(minimum):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected a whole number >= {minimum}, got {_shown(value)}")
        return value

    return check


def _number(low, high=math.inf, low_open=True, high_open=False):
    def check(value):
        if isinstance(value, str):  # YAML reads 1e-3 (no dot, no sign in the exponent) as text
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {_shown(value)}")
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value}")
        if value < low or (low_open and value == low) or value > high or (high_open and value == high):
            raise ValueError(f"{value} is out of range")
        return value

    return check


def _quantity(unit, name):
    """A value with units of ``unit`` ('Hz', 's'); a bare number is refused: which unit would it be in?"""

    def check(value):
        from brian2 import Hz, second
        from brian2.units.fundamentalunits import get_dimensions

        like = {"Hz": Hz, "s": second}[unit]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError(f"{value} has no unit; write the {name} with one, e.g. '{value} {unit}'")
        quantity = parse_quantity(value)
        if get_dimensions(quantity) is not get_dimensions(like):
            raise ValueError(f"'{value}' has units {describe_dimensions(quantity)}, expected a {name} in {unit}")
        if not math.isfinite(float(quantity)) or float(quantity) < 0:
            raise ValueError(f"'{value}' is not a finite {name} >= 0")
        return value

    return check


def _choice(*options):
    def check(value):
        if value not in options:
            raise ValueError(f"{_shown(value)} is not one of them")
        return value

    return check


def _boolean(value):
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_shown(value)}")
    return value


def _mapping(value):
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping, got {_shown(value)}")
    return value


def _betas(value):
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"expected two numbers, got {_shown(value)}")
    return [_number(0.0, 1.0, low_open=False, high_open=True)(b) for b in value]


def _optional(check):
    def optional(value):
        return None if value is None else check(value)

    return optional


def _shown(value):
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# Every key of an experiment document: its default, its check and what it accepts (the README's
# experiment-document table says the same in words). A section is a mapping of keys, filled key by key.
SCHEMA = {
    "experiment": Key(REQUIRED, _text, "the run's name, e.g. store_recall"),
    "description": Key("", _optional(_text), "free text"),
    "model": Key(REQUIRED, _text, "a network document, relative to the experiment document"),
    "task": Key(REQUIRED, _mapping, "a mapping with a 'name' and the task's options"),
    "network_overrides": Key({}, _optional(_mapping), "a mapping merged into the network document"),
    "input": Key(None, _optional(_text), "the network input the task drives (default: the only one)"),
    "readout": Key(None, _optional(_text), "the readout the loss reads (default: the only one)"),
    "seed": Key(0, _whole(0), "a whole number >= 0"),
    "iterations": Key(100, _whole(1), "a whole number >= 1"),
    "batch_size": Key(32, _whole(1), "a whole number >= 1"),
    "dtype": Key("float32", _choice("float32", "float64"), "float32, float64"),
    "compile": Key(
        True, _boolean, "true (fuse the twin's step and its backward with torch's Inductor compiler) or false"
    ),
    "optimizer": {
        "learning_rate": Key(0.01, _number(0.0), "a number > 0, e.g. 0.01"),
        "decay_factor": Key(1.0, _number(0.0, 1.0), "a number in (0, 1]"),
        "decay_every": Key(1000, _whole(1), "a whole number of iterations >= 1"),
        "betas": Key([0.9, 0.999], _betas, "two numbers in [0, 1), e.g. [0.9, 0.999]"),
        "eps": Key(1e-8, _number(0.0), "a number > 0"),
    },
    "rate_regulariser": {
        "coefficient": Key(0.0, _number(0.0, low_open=False), "a number >= 0"),
        "target": Key("10 Hz", _quantity("Hz", "rate"), "a rate such as '10 Hz'"),
    },
    "rewiring": Key(None, _optional(_mapping), "null, or a mapping of connectivity, l1, temperature"),
    "gradient_clip": Key(None, _optional(_number(0.0)), "null or a number > 0"),
    "validation": {
        "every": Key(50, _whole(1), "a whole number of iterations >= 1"),
        "batch_size": Key(128, _whole(1), "a whole number >= 1"),
    },
    "stop": Key(None, _optional(_mapping), "null, or a mapping with validation_error_below"),
    "checkpoint_every": Key(50, _whole(1), "a whole number of iterations >= 1"),
    "checkpoint_wall_time": Key("5 min", _optional(_quantity("s", "time")), "a time such as '5 min', or null"),
    "pseudo_derivative": {
        "function": Key("triangle", _choice(*PSEUDO_DERIVATIVES), ", ".join(PSEUDO_DERIVATIVES)),
        "gamma": Key(0.3, _number(0.0), "a number > 0"),
        "width": Key(1.0, _number(0.0), "a number > 0"),
    },
    "test_batch_size": Key(256, _whole(1), "a whole number >= 1"),
    "actor_critic": Key(
        None, _optional(_mapping), "null, or a mapping of the actor-critic settings (closed-loop tasks)"
    ),
}
# Sections that may be null (off) or a mapping of these keys (no defaults: the feature's own).
OPTIONAL_SECTIONS = {
    "rewiring": {
        "connectivity": Key(None, _number(0.0, 1.0), "a fraction in (0, 1]"),
        "l1": Key(0.0, _number(0.0, low_open=False), "a number >= 0"),
        "temperature": Key(0.0, _number(0.0, low_open=False), "a number >= 0"),
    },
    "stop": {
        "validation_error_below": Key(None, _number(0.0, 1.0), "an error rate in (0, 1]"),
    },
    # Closed-loop tasks (training/a2c.py fills in the keys left out).
    "actor_critic": {
        "policy": Key(None, _text, "the readout holding the policy's mean action"),
        "value": Key(None, _text, "the readout holding the value estimate"),
        "decision_ms": Key(None, _number(0.0), "a number of ms > 0 between actions"),
        "discount": Key(None, _number(0.0, 1.0, low_open=False), "a number in [0, 1] per decision"),
        "gae_lambda": Key(None, _number(0.0, 1.0, low_open=False), "a number in [0, 1]"),
        "value_weight": Key(None, _number(0.0, low_open=False), "a number >= 0"),
        "entropy": Key(None, _number(0.0, low_open=False), "a number >= 0"),
        "initial_std": Key(None, _number(0.0), "a number > 0"),
    },
}
DEFAULTS = {
    key: ({k: v.default for k, v in entry.items()} if isinstance(entry, dict) else entry.default)
    for key, entry in SCHEMA.items()
    if not isinstance(entry, Key) or entry.default is not REQUIRED
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
    locate: object = field(default=None, repr=False, compare=False)  # (key, message) -> 'file:line' or '--set ...'

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
            where = self.locate("task", str(error)) if self.locate else self.source
            raise DocumentError(where, "task", str(error)) from None
        return task


def load_experiment(path, settings=()):
    """Read an experiment document, apply ``key.path=value`` settings, validate it.

    Every mistake names the line of the document, or the ``--set`` that made it, and what is accepted.
    """
    document = _SetDocument(path)
    for setting in settings:
        document.apply(setting)
    return experiment_from_dict(document.data, document, {document.path.name: document.text})


def experiment_from_dict(data, source, documents):
    """Validate a parsed experiment document (``--set`` already applied) and build its network once, so every
    mistake, the model's included, is reported before training starts.

    ``source`` is the document's path or a :class:`Document` that can point at the line of each key.
    """
    document = source if isinstance(source, Document) else None
    error = (
        document.error
        if document
        else (lambda key, problem, accepted=None: DocumentError(str(source), key, problem, accepted))
    )
    if not isinstance(data, dict):
        raise error(None, f"expected a mapping of keys, got {_shown(data)}")
    config = copy.deepcopy(DEFAULTS)
    for key, value in data.items():
        entry = SCHEMA.get(key)
        if entry is None:
            raise error(key, f"unknown key '{key}'", ", ".join(SCHEMA))
        if isinstance(entry, Key):
            config[key] = _checked(error, key, entry, value)
            if key in OPTIONAL_SECTIONS and value is not None:
                config[key] = _section(error, key, OPTIONAL_SECTIONS[key], value, {})
        else:
            config[key] = _section(error, key, entry, value, config[key])
    for key, entry in SCHEMA.items():
        if isinstance(entry, Key) and entry.default is REQUIRED and key not in data:
            raise error(key, f"missing key '{key}'", entry.accepted)
    if "name" not in config["task"]:
        raise error("task", "the task has no 'name'", ", ".join(_task_names()))
    config["rate_regulariser"]["target_hz"] = float(parse_quantity(config["rate_regulariser"]["target"]))
    where = document.path if document else Path(source)
    model = where.parent / config["model"]
    if not model.is_file():
        raise error("model", f"network document '{model}' not found", "a path relative to the experiment document")
    experiment = Experiment(config=config, source=str(where), documents=dict(documents))
    if document is not None:
        experiment.locate = document.where
    spec = experiment.network()  # validates the model and overrides now, not at iteration 1
    experiment.documents.update(spec.documents)
    return experiment


def experiment_from_documents(config, documents, source="checkpoint"):
    """Rebuild an Experiment from a checkpoint's stored settings and documents, in memory (no original files needed).

    Keys added to the schema after the checkpoint was written take their defaults.
    """
    return Experiment(config=with_defaults(config), source=str(source), documents=dict(documents), stored=True)


def with_defaults(config):
    """A stored config with the defaults of keys it predates filled in (a copy)."""
    filled = copy.deepcopy(DEFAULTS)
    for key, value in copy.deepcopy(config).items():
        both = isinstance(filled.get(key), dict) and isinstance(value, dict)
        filled[key] = {**filled[key], **value} if both else value
    return filled


def _checked(error, key, entry, value):
    try:
        return entry.check(value)
    except ValueError as problem:
        raise error(key, str(problem), entry.accepted) from None


def _section(error, name, keys, value, defaults):
    if not isinstance(value, dict):
        raise error(name, f"expected a mapping, got {_shown(value)}", f"a mapping of {', '.join(keys)}")
    section = dict(defaults or {})
    for key, item in value.items():
        if key not in keys:
            raise error(f"{name}.{key}", f"unknown key '{key}'", ", ".join(keys))
        section[key] = _checked(error, f"{name}.{key}", keys[key], item)
    return section


def _task_names():
    from ..tasks import TASKS  # numpy only

    return sorted(TASKS)


class _SetDocument(Document):
    """An experiment document with ``--set key=value`` settings applied; errors in a set key point at the --set."""

    def __init__(self, path):
        super().__init__(path, "experiment")
        self.settings = {}

    def apply(self, setting):
        if "=" not in setting:
            raise DocumentError(
                f"--set {setting}", None, "a --set needs key=value", "e.g. optimizer.learning_rate=0.005"
            )
        key, raw = (part.strip() for part in setting.split("=", 1))
        parts = key.split(".")
        if not all(parts):
            raise DocumentError(f"--set {setting}", None, f"'{key}' is not a key path", "e.g. optimizer.learning_rate")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw  # as text: the key's check says what it accepts
        node = self.data
        for depth, part in enumerate(parts[:-1]):
            if node.get(part) is None:
                node[part] = {}
            elif not isinstance(node[part], dict):
                where = ".".join(parts[: depth + 1])
                raise DocumentError(
                    f"--set {setting}",
                    where,
                    f"'{where}' is {_shown(node[part])}, not a section with keys",
                    f"--set {where}=VALUE",
                )
            node = node[part]
        node[parts[-1]] = value
        self.settings[key] = setting

    def where(self, key, message=""):
        """The --set that wrote ``key`` (the one whose last part ``message`` names, if several), else its line."""
        matching = [
            setting
            for set_key, setting in self.settings.items()
            if key and (key == set_key or key.startswith(set_key + ".") or set_key.startswith(key + "."))
        ]
        said = message.split("(accepted")[0]  # the list of accepted options names every key: not evidence
        named = [setting for setting in matching if setting.split("=", 1)[0].split(".")[-1].strip() in said]
        if named or matching:
            return f"--set {(named or matching)[0]}"
        return super().where(key)

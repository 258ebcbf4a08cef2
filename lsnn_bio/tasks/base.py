"""What every task hands the trainer: a Batch of input spikes plus the windows where the readout is judged.

A task only makes data. It never touches a network, so the same batch can be fed to the
torch twin and to Brian2 and scored identically from ``windows``, ``labels`` and ``mask``.
"""

import inspect
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import LsnnBioError

SPLITS = ("train", "validation", "test")
HELD_OUT = ("validation", "test")


class TaskError(LsnnBioError, ValueError):
    """A task was asked for something it cannot give (unknown task, option, split or size)."""


class MissingDataError(LsnnBioError, FileNotFoundError):
    """A data file a task needs is not where it was asked for (the message names it and what to pass)."""


@dataclass
class Batch:
    """One batch of trials, time-major because the simulators step through time.

    ``inputs`` (steps, batch, n_inputs) float32 0/1 spikes in steps of the task's ``dt_ms``;
    ``windows`` (batch, K, 2) int64 ``[start, stop)`` steps (the logits of window k are the mean
    readout over it); ``labels`` (batch, K) int64; ``mask`` (batch, K) bool says which windows
    count (padding windows are still non-empty ranges so averaging them never yields NaN);
    ``events`` per trial a list of ``(step, duration_steps, kind, label)`` tuples, later written
    as Neo Epochs.
    """

    inputs: np.ndarray
    windows: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    events: list = field(default_factory=list)

    @property
    def size(self):
        return self.inputs.shape[1]

    @property
    def steps(self):
        return self.inputs.shape[0]


class Task:
    """Interface of a task: three splits, kept apart so that no decision ever sees the test data.

    - ``batch(split, size, rng)``: ``size`` trials drawn at random from ``split`` with the
      caller's generator (training draws ``"train"``, so a run is reproducible from its seed);
    - ``batches(split, size)``: the whole fixed held-out split (``"validation"`` or ``"test"``)
      in order, each trial the same whatever ``size``, so every model is scored on the same trials;
    - ``split_size(split)``: the number of trials in a split (``None`` for a training split
      generated afresh at every draw);
    - ``dt_ms``: the time step of ``Batch.inputs`` in ms, which must equal the network's (a task
      that can be rendered at other time steps takes a ``dt_ms`` option, which experiments fill in
      from the network; see ``check_time_step``);
    - ``score(predicted, labels)``: how held-out decisions are counted (plain accuracy here; TIMIT
      folds 61 phones to 39 as the literature scores it), used by the trainer's validation and
      test and by ``validate`` for both engines.

    Subclasses set ``name``, ``n_inputs``, ``n_classes``, ``steps`` and ``dt_ms``, keep their
    constructor arguments in ``self._options`` and implement the three methods; ``class_names``
    (one per class) name the readout's traces in figures.
    """

    name: str = ""
    n_inputs: int = 0
    n_classes: int = 0
    class_names: tuple = ()
    steps: int = 0
    dt_ms: float = 1.0

    def batch(self, split: str, size: int, rng: np.random.Generator) -> Batch:
        raise NotImplementedError

    def score(self, predicted, labels) -> dict:
        """Accuracy of predicted classes against labels, one entry per counted window."""
        predicted, labels = np.asarray(predicted), np.asarray(labels)
        correct, counted = int((predicted == labels).sum()), int(labels.size)
        accuracy = correct / counted if counted else float("nan")
        return {"correct": correct, "counted": counted, "accuracy": accuracy, "error": 1.0 - accuracy}

    def batches(self, split: str, size: int) -> Iterator[Batch]:
        raise NotImplementedError

    def split_size(self, split: str) -> int | None:
        raise NotImplementedError

    @property
    def options(self) -> dict:
        """Constructor arguments, so a checkpoint can rebuild the task with ``make_task(name, **options)``."""
        return dict(getattr(self, "_options", {}))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({args})"

    # -- argument checks shared by the tasks -------------------------------------------------

    def _check_split(self, split, accepted=SPLITS):
        if split not in accepted:
            hint = " (training batches are drawn with batch('train', size, rng))" if split == "train" else ""
            raise TaskError(
                f"task '{self.name}': unknown split {split!r} here (accepted: {', '.join(map(repr, accepted))}){hint}"
            )
        return split

    def _check_size(self, size, what="batch size"):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
            raise TaskError(f"task '{self.name}': {what} must be a positive integer, got {size!r}")
        return int(size)

    def _check_rng(self, rng):
        if not isinstance(rng, np.random.Generator):
            raise TaskError(
                f"task '{self.name}': rng must be a numpy Generator, got {type(rng).__name__} "
                "(accepted: numpy.random.default_rng(seed))"
            )
        return rng


def positive_int(task, name, value):
    """Options are often read from YAML, so 200.0 is accepted but 200.5 is not."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer, float, np.floating))
        or value != int(value)
        or value <= 0
    ):
        raise TaskError(f"task '{task}': option {name} must be a positive integer, got {value!r}")
    return int(value)


def ms_to_steps(task, name, ms, dt_ms):
    """Durations are given in ms at the edges and must be whole time steps inside."""
    try:
        steps = float(ms) / dt_ms
    except (TypeError, ValueError):
        steps = float("nan")
    if isinstance(ms, bool) or not np.isfinite(steps) or steps <= 0 or abs(steps - round(steps)) > 1e-9:
        raise TaskError(f"task '{task}': option {name}={ms!r} ms is not a positive whole number of {dt_ms} ms steps")
    return int(round(steps))


def check_time_step(task, network_dt_ms, network="the network"):
    """Refuse a task whose inputs are sampled at another time step than the network integrates.

    A 0.5 ms network fed 1 ms data would see every input twice as fast and every window at the
    wrong place, and train without a word; this is the one check every entry point calls.
    """
    if not math.isclose(float(task.dt_ms), float(network_dt_ms), rel_tol=1e-9, abs_tol=0.0):
        if "dt_ms" in inspect.signature(type(task)).parameters:
            fix = f"give the task dt_ms: {network_dt_ms:g} or the network dt: {task.dt_ms:g} ms"
        else:
            fix = f"this task is defined at {task.dt_ms:g} ms only; use a network with dt: {task.dt_ms:g} ms"
        raise TaskError(
            f"task '{task.name}' gives inputs in steps of {task.dt_ms:g} ms but {network} has dt = {network_dt_ms:g} ms ({fix})"
        )


def held_out_trials(task, split="test", count=None, batch_size=64):
    """The first ``count`` trials of a held-out split ("validation" or "test"; all of it by default), as batches.

    ``validate`` and ``simulate`` both take their trials here, so the two report on the same trials.
    """
    if split not in HELD_OUT:
        raise TaskError(f"--split {split!r} is not a held-out split (accepted: {', '.join(HELD_OUT)})")
    size = task.split_size(split)
    total = size if count is None else min(count, size)
    if total <= 0:
        raise TaskError(f"--trials must be positive, got {count}")
    batches, taken = [], 0
    for batch in task.batches(split, batch_size):
        keep = min(batch.size, total - taken)
        batches.append(
            batch
            if keep == batch.size
            else replace(
                batch,
                inputs=batch.inputs[:, :keep],
                windows=batch.windows[:keep],
                labels=batch.labels[:keep],
                mask=batch.mask[:keep],
                events=batch.events[:keep],
            )
        )
        taken += keep
        if taken >= total:
            break
    return batches

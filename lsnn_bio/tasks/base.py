"""What every task hands the trainer: a Batch of input spikes plus the windows where the readout is judged.

A task only makes data. It never touches a network, so the same batch can be fed to the
torch twin and to Brian2 and scored identically from ``windows``, ``labels`` and ``mask``.
"""
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..errors import LsnnBioError

SPLITS = ("train", "test")


class TaskError(LsnnBioError, ValueError):
    """A task was asked for something it cannot give (unknown task, option, split or size)."""


@dataclass
class Batch:
    """One batch of trials, time-major because the simulators step through time.

    ``inputs`` (steps, batch, n_inputs) float32 0/1 spikes in 1 ms steps; ``windows`` (batch, K, 2)
    int64 ``[start, stop)`` steps (the logits of window k are the mean readout over it);
    ``labels`` (batch, K) int64; ``mask`` (batch, K) bool says which windows count (padding
    windows are still non-empty ranges so averaging them never yields NaN); ``events`` per trial a
    list of ``(step, duration_steps, kind, label)`` tuples, later written as Neo Epochs.
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
    """Interface of a task. Subclasses set the attributes and implement the three methods.

    ``batch`` draws at random (the caller owns the generator, so training is reproducible from
    its seed); ``test_batches`` walks the whole fixed held-out split in order, so every model is
    scored on exactly the same trials.
    """

    name: str = ""
    n_inputs: int = 0
    n_classes: int = 0
    steps: int = 0
    dt_ms: float = 1.0

    def batch(self, split: str, size: int, rng: np.random.Generator) -> Batch:
        raise NotImplementedError

    def test_batches(self, size: int) -> Iterator[Batch]:
        raise NotImplementedError

    def test_size(self) -> int:
        raise NotImplementedError

    @property
    def options(self) -> dict:
        """Constructor arguments, so a checkpoint can rebuild the task with ``make_task(name, **options)``."""
        return dict(getattr(self, "_options", {}))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({args})"

    # -- argument checks shared by the tasks -------------------------------------------------

    def _check_split(self, split):
        if split not in SPLITS:
            raise TaskError(f"task '{self.name}': unknown split {split!r} (accepted: {', '.join(map(repr, SPLITS))})")
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
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)) or value != int(value) or value <= 0:
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

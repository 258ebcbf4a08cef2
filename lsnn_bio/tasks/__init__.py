"""Tasks: input spike trains, readout windows and labels for training and testing (reference section 3).

``make_task(name, **options)`` is how documents and checkpoints name a task; ``task.options``
gives back the options, so a checkpoint can rebuild exactly the task it was trained on. Every task
has train, validation and test splits (``base.Task`` is the interface).
"""

import inspect

from .base import HELD_OUT, SPLITS, Batch, MissingDataError, Task, TaskError, check_time_step, held_out_trials
from .function_regression import FunctionRegression
from .meta_rl_navigation import MetaRLNavigation
from .mnist_idx import IdxFormatError, load_mnist_pair, read_idx
from .sequential_digits import (
    SequentialDigits,
    SequentialMNIST,
    encode_pixel_sequences,
    n_encoding_channels,
    threshold_crossings,
)
from .store_recall import StoreRecall
from .timit import Timit

TASKS = {
    "store_recall": StoreRecall,
    "sequential_digits": SequentialDigits,
    "sequential_mnist": SequentialMNIST,
    "timit": Timit,
    "function_regression": FunctionRegression,
    "meta_rl_navigation": MetaRLNavigation,
}


def make_task(name, **options) -> Task:
    """The task registered as ``name``, built from ``options``; mistakes are named with what is accepted."""
    if name not in TASKS:
        raise TaskError(f"unknown task {name!r} (accepted: {', '.join(sorted(TASKS))})")
    cls = TASKS[name]
    parameters = inspect.signature(cls).parameters
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise TaskError(
            f"task '{name}': unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(accepted: {', '.join(parameters)})"
        )
    missing = [p for p, spec in parameters.items() if spec.default is inspect.Parameter.empty and p not in options]
    if missing:
        raise TaskError(f"task '{name}': missing required option{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return cls(**options)


__all__ = [
    "Batch",
    "Task",
    "TaskError",
    "SPLITS",
    "HELD_OUT",
    "MissingDataError",
    "check_time_step",
    "held_out_trials",
    "TASKS",
    "make_task",
    "StoreRecall",
    "SequentialDigits",
    "SequentialMNIST",
    "threshold_crossings",
    "encode_pixel_sequences",
    "n_encoding_channels",
    "read_idx",
    "load_mnist_pair",
    "IdxFormatError",
]

"""Training through the twin: BPTT, the paper's losses, DEEP R, checkpoints.

The names load on first use: reading an experiment document or a checkpoint
(``training.experiment``, ``training.checkpoint``) must not import torch, which only
the trainer needs.
"""

import importlib

_LAZY = {
    "Experiment": ".experiment",
    "load_experiment": ".experiment",
    "Trainer": ".trainer",
    "TrainingDiverged": ".trainer",
    "CheckpointError": ".checkpoint",
}
__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'lsnn_bio.training' has no attribute '{name}'")

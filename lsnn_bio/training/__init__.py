"""Training through the twin: BPTT, the paper's losses, DEEP R, checkpoints."""
from .checkpoint import CheckpointError
from .experiment import Experiment, load_experiment
from .trainer import Trainer, TrainingDiverged

__all__ = ["Experiment", "load_experiment", "Trainer", "TrainingDiverged", "CheckpointError"]

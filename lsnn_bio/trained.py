"""A trained network rebuilt from its checkpoint alone (no original files needed).

The checkpoint holds the exact documents and seed, so the untrained NetworkSpec
is rebuilt identically; the twin's trained state is loaded into it, and the
resulting ``spec`` (connected synapses, trained weights and per-neuron
parameters) is what Brian2 simulates.
"""
import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from .training import checkpoint as checkpoints
from .training.checkpoint import CheckpointError
from .training.experiment import experiment_from_documents
from .twin import Twin


@dataclass
class TrainedNetwork:
    path: Path
    digest: str  # sha256 of the checkpoint file: identifies exactly which weights were simulated
    experiment: object
    twin: Twin
    spec: object  # NetworkSpec with trained weights
    task: object
    input: str
    readout: str

    @property
    def model_name(self):
        return self.spec.name


def load_trained(path, device="cpu"):
    """Checkpoint -> TrainedNetwork; refuses checkpoints whose weights do not fit their model."""
    saved = checkpoints.load(path)
    experiment = experiment_from_documents(saved.meta["experiment"], saved.meta["documents"])
    spec = experiment.network()
    config = experiment.config
    twin = Twin(spec, dtype=getattr(torch, config["dtype"]), device=device,
                pseudo_derivative=config["pseudo_derivative"]["function"])
    try:
        twin.load_state_dict(saved.state["twin"])
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise CheckpointError(
            f"{path}: its weights do not fit its model '{spec.name}' ({first[1].strip() if len(first) > 1 else first[0]})"
        ) from None
    names = saved.meta["spec"]
    return TrainedNetwork(
        path=Path(path),
        digest=hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        experiment=experiment,
        twin=twin,
        spec=twin.trained_spec(),
        task=experiment.task(),
        input=names["input"],
        readout=names["readout"],
    )

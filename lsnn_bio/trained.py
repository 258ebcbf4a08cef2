"""A trained network rebuilt from its checkpoint alone, without torch and without the original files.

The checkpoint holds the exact documents, the seed and the trained arrays: the
documents give the network's structure (populations, equations, synapse models),
the arrays replace its synapses and per-neuron parameters, and the resulting
``spec`` is what Brian2 simulates. Only ``validate`` builds a twin from it, to
compare the two engines.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .training import checkpoint as checkpoints
from .training.experiment import experiment_from_documents


@dataclass
class TrainedNetwork:
    """What a checkpoint says about its trained network: enough to simulate it in Brian2 and to name what ran."""

    path: Path
    digest: str  # sha256 of the checkpoint file: identifies exactly which weights were simulated
    experiment: object
    spec: object  # NetworkSpec with trained weights and per-neuron parameters
    task: object
    input: str
    readout: str

    @property
    def model_name(self):
        """The network document's name, as reports and Neo files name what was simulated."""
        return self.spec.name


def load_trained(path):
    """Checkpoint (or its run folder) -> TrainedNetwork; refuses checkpoints whose weights do not fit their model."""
    path = checkpoints.checkpoint_file(path)
    saved = checkpoints.read(path)
    experiment = experiment_from_documents(saved.meta["experiment"], saved.meta["documents"], source=path)
    spec = checkpoints.trained_network(experiment.network(), saved)
    names = saved.meta["spec"]
    return TrainedNetwork(
        path=path,
        digest=hashlib.sha256(path.read_bytes()).hexdigest(),
        experiment=experiment,
        spec=spec,
        task=experiment.task(spec.dt),
        input=names["input"],
        readout=names["readout"],
    )

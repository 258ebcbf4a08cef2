"""Load and validate model documents (YAML with Brian2 equations and units).

A *neuron document* (``models/lif.yaml``, ``neurons.py``) describes one neuron type; a
*network document* (``models/lsnn_smnist.yaml``, ``networks.py``) assembles populations,
inputs, projections and readouts from neuron documents. Loading never executes code:
YAML is read with ``safe_load``, quantities with a whitelisted parser, and equations are
handed to Brian2's own parser, which also checks their units. Every problem is reported
with the file, the key (and line) and what would be accepted (``source.py``).
"""

from .networks import load_network
from .neurons import load_neuron

__all__ = ["load_network", "load_neuron"]

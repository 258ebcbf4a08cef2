"""lsnn-bio: Brian2 spiking networks trained through a generated PyTorch twin.

Data flows one way: documents -> NetworkSpec -> Twin (train) -> checkpoint ->
Brian2 (validate, simulate) -> Neo (compare with recordings).
"""

from . import _quiet_brian2  # noqa: F401  (must come first)
from ._version import __version__
from .documents import load_network, load_neuron
from .errors import DocumentError, LsnnBioError, UnsupportedConstruct
from .spec import NetworkSpec

__all__ = [
    "load_network",
    "load_neuron",
    "NetworkSpec",
    "DocumentError",
    "LsnnBioError",
    "UnsupportedConstruct",
    "Twin",
    "BrianNetwork",
    "load_experiment",
    "Trainer",
    "load_trained",
    "validate",
    "simulate",
    "to_block",
    "write_block",
    "read_block",
    "spike_statistics",
    "compare",
    "__version__",
]

_LAZY = {
    "Twin": ".twin",
    "BrianNetwork": ".brian",
    "load_experiment": ".training",
    "Trainer": ".training",
    "load_trained": ".trained",
    "validate": ".validation",
    "simulate": ".simulation",
    "to_block": ".neo",
    "write_block": ".neo",
    "read_block": ".neo",
    "spike_statistics": ".statistics",
    "compare": ".comparison",
}


def __getattr__(name):
    """Heavy parts (torch, Neo, Elephant) load on first use, so `lsnn-bio check` starts fast."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'lsnn_bio' has no attribute '{name}'")

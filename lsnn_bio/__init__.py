"""lsnn-bio: Brian2 spiking networks trained through a generated PyTorch twin."""
from . import _quiet_brian2  # noqa: F401  (must come first)
from .documents import load_network, load_neuron
from .errors import DocumentError, LsnnBioError, UnsupportedConstruct
from .spec import NetworkSpec

__version__ = "0.1.0"
__all__ = ["load_network", "load_neuron", "NetworkSpec", "DocumentError", "LsnnBioError", "UnsupportedConstruct"]

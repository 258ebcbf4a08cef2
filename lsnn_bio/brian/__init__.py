"""Brian2 side of lsnn-bio: build a NetworkSpec on numpy, C++ or CUDA and run trials."""

from ..engines import EngineError
from .devices import gpu_available
from .network import BrianNetwork, BrianResult, TrialInputError, generate_cuda_code

__all__ = [
    "EngineError",
    "gpu_available",
    "BrianNetwork",
    "BrianResult",
    "TrialInputError",
    "generate_cuda_code",
]

"""Brian2 side of lsnn-bio: build a NetworkSpec on numpy, C++ or CUDA and run trials."""
from .devices import ENGINES, EngineError, gpu_available
from .network import BrianNetwork, BrianResult, TrialInputError, generate_cuda_code

__all__ = [
    "ENGINES",
    "EngineError",
    "gpu_available",
    "BrianNetwork",
    "BrianResult",
    "TrialInputError",
    "generate_cuda_code",
]

"""The PyTorch twin: a torch step generated from Brian2's own code for a NetworkSpec."""

from .module import StepOutput, Twin, TwinError, TwinResult, TwinState
from .surrogates import PSEUDO_DERIVATIVES

__all__ = ["Twin", "TwinResult", "TwinState", "StepOutput", "TwinError", "PSEUDO_DERIVATIVES"]

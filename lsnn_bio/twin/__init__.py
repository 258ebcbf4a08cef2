"""The PyTorch twin, generated from Brian2's own abstract code for a NetworkSpec."""
from .module import Twin, TwinResult
from .surrogates import PSEUDO_DERIVATIVES, spike

__all__ = ["Twin", "TwinResult", "PSEUDO_DERIVATIVES", "spike"]

"""The twin's arguments checked at its edges, each refusal one line saying what was wrong and what is accepted."""

import os
import sys
import warnings

import numpy as np
import torch

from ..errors import LsnnBioError
from .surrogates import PSEUDO_DERIVATIVES

DTYPES = (torch.float32, torch.float64)
HALF = "half precision cannot resolve the threshold crossings the twin must reproduce"
_INSIDE = (os.path.dirname(os.path.dirname(__file__)), os.path.dirname(torch.__file__))  # lsnn_bio/, torch/


def _warn(message):
    """A RuntimeWarning attributed to the user's line: the first caller outside lsnn_bio and torch (a twin is
    called through nn.Module's wrappers, so a fixed stacklevel would name torch's file)."""
    level, frame = 2, sys._getframe(1)  # level 1 is this function, 2 its caller
    while frame is not None and frame.f_code.co_filename.startswith(_INSIDE):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, RuntimeWarning, stacklevel=level)


class TwinError(LsnnBioError, ValueError):
    """A request the twin cannot honour (bad argument, input shape, device)."""


def settings(dtype, device, pseudo_derivative, gamma, width):
    """The constructor's arguments; returns the torch device."""
    if dtype not in DTYPES:
        raise TwinError(f"dtype {dtype} is not supported (accepted: torch.float32, torch.float64; {HALF})")
    if pseudo_derivative not in PSEUDO_DERIVATIVES:
        raise TwinError(f"unknown pseudo_derivative {pseudo_derivative!r} (accepted: {', '.join(PSEUDO_DERIVATIVES)})")
    for name, value in (("gamma", gamma), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
            raise TwinError(f"{name} must be a positive number, got {value!r}")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise TwinError(f"unknown device {device!r} (accepted: 'cpu', 'cuda', 'cuda:N')") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TwinError("device 'cuda' was asked for, but this torch sees no CUDA device (accepted here: 'cpu')")
    if device.type not in ("cpu", "cuda"):
        _warn(f"the twin is tested on cpu and cuda only, not {device.type}")
    return device


def dtype(twin):
    if twin.dtype not in DTYPES:  # e.g. after twin.half()
        raise TwinError(
            f"the twin's parameters are {twin.dtype}; it runs in torch.float32 or torch.float64 ({HALF}): use .float()"
        )


def record(twin, pairs):
    """(population, variable) pairs a trial records, checked against what each population has."""
    checked = []
    for item in pairs:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TwinError(f"record takes (population, variable) pairs, got {item!r}")
        population, variable = item
        if population not in twin.spec.populations:
            raise TwinError(f"record: unknown population '{population}' (accepted: {', '.join(twin.spec.populations)})")
        known = twin.spec.populations[population].recordable
        if variable not in known:
            raise TwinError(
                f"record: population '{population}' has no variable '{variable}' (accepted: {', '.join(sorted(known))})"
            )
        checked.append((population, variable))
    return tuple(dict.fromkeys(checked))


def inputs(twin, given, steps):
    """{input: (steps, batch, n)} rasters as tensors of the twin's dtype and device, and (steps, batch)."""
    expected = {name: group.size for name, group in twin.spec.inputs.items()}
    if not isinstance(given, dict) or set(given) != set(expected):
        got = sorted(given) if isinstance(given, dict) else type(given).__name__
        raise TwinError(f"inputs must be given for exactly {sorted(expected)}, got {got}")
    converted, shapes = {}, set()
    for name, x in given.items():
        x = torch.as_tensor(x, device=twin.device)
        if x.ndim != 3 or x.shape[2] != expected[name]:
            raise TwinError(f"input '{name}' must have shape (steps, batch, {expected[name]}), got {tuple(x.shape)}")
        converted[name] = _spikes(f"input '{name}'", "(step, trial, neuron)", x).to(twin.dtype)
        shapes.add(tuple(x.shape[:2]))
    if len(shapes) > 1:
        raise TwinError(f"all inputs must share (steps, batch), got {sorted(shapes)}")
    if not shapes:
        if steps is None:
            raise TwinError("a network without inputs needs steps=... (and runs with batch 1)")
        shapes.add((int(steps), 1))
    shape = shapes.pop()
    if converted and steps is not None and steps != shape[0]:
        raise TwinError(
            f"steps={steps!r} disagrees with the inputs' {shape[0]} steps (steps= is for networks without inputs)"
        )
    if shape[0] <= 0 or shape[1] <= 0:
        raise TwinError(f"inputs need at least one step and one trial, got (steps, batch) = {shape}")
    return converted, shape


def state(twin, given, batch, stepping=False):
    """A state to continue from must be of the trials given now, in the twin's dtype and on its device; a whole
    trial (not ``stepping``) does not differentiate into it, which a state with gradients must hear."""
    have = given.history.shape[1]
    if have != batch:
        raise TwinError(f"state: it holds {have} trials, the inputs {batch} (continue each trial from its own state)")
    tensors = [given.history, *given.neurons]
    for t in tensors:
        if t.dtype != twin.dtype or t.device != twin.device:
            raise TwinError(
                f"state: it is {t.dtype} on {t.device}, the twin {twin.dtype} on {twin.device} "
                "(continue from a state of this twin, e.g. result.final_state or twin.initial_state)"
            )
    if not stepping and torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        _warn(
            "state carries gradients (e.g. from twin.step), but twin(..., state=...) differentiates only its own "
            "steps, as truncated BPTT does; detach the state to say so, or keep stepping with twin.step"
        )


def step_inputs(twin, given, state):
    """{input: (batch, n)} for one step of ``Twin.step``."""
    expected = {name: group.size for name, group in twin.spec.inputs.items()}
    if not isinstance(given, dict) or set(given) != set(expected):
        raise TwinError(f"step inputs must be given for exactly {sorted(expected)}")
    batch = state.history.shape[1]
    converted = {}
    for name, x in given.items():
        x = torch.as_tensor(x, device=twin.device)
        if tuple(x.shape) != (batch, expected[name]):
            raise TwinError(f"step input '{name}' must have shape ({batch}, {expected[name]}), got {tuple(x.shape)}")
        converted[name] = _spikes(f"step input '{name}'", "(trial, neuron)", x).to(twin.dtype)
    return converted


def _spikes(what, axes, x):
    """A raster of 0 and 1. Brian2 replays an input as a spike wherever the raster exceeds 0.5 (a TimedArray and a
    threshold), the twin multiplies by it: a rate, a count or a NaN would give the two different networks.
    A bool raster is spikes by construction and costs nothing to check."""
    if x.dtype == torch.bool:
        return x
    if torch.count_nonzero(x) != torch.count_nonzero(x == 1):  # anything else, NaN included, is nonzero and not 1
        where = tuple(int(i) for i in x.ne(0).logical_and_(x.ne(1)).nonzero()[0])
        raise TwinError(
            f"{what} holds {x[where].item():.6g} at {axes} {where}: inputs are spikes, 0 or 1 "
            "(sample rates into spikes first; counts above 1 and NaN are refused)"
        )
    return x

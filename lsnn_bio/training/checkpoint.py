"""Self-describing checkpoints: one safetensors file, written atomically, never unpickled, read without torch.

Arrays are safetensors entries: the trained network (per projection its synapses'
``i, j, w, delay, sign`` and the ``shape`` of its potential connectivity; per population
its trained per-neuron parameters, all in SI units) and, for resuming, the twin's
state, the optimiser's, DEEP R's and the torch RNG's. Everything else (the exact
model and experiment documents, iteration, metrics, numpy RNG state, versions) is JSON
in the file's metadata, with a SHA-256 of all array bytes so that a damaged file is
refused rather than half-read.

Reading needs numpy and safetensors only, so ``simulate`` goes back to Brian2 without
torch; ``load`` gives torch tensors for the trainer. A checkpoint written before the
trained network was stored (format 1) holds the twin's state only; the network is then
decoded from it (``trained_network``).
"""

import hashlib
import json
import platform
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from safetensors import SafetensorError

from .._version import __version__
from ..errors import LsnnBioError
from ..files import write_atomically

FORMAT = "lsnn-bio checkpoint 2"
READABLE = ("lsnn-bio checkpoint 1", FORMAT)


class CheckpointError(LsnnBioError, ValueError):
    """A checkpoint that is missing, damaged, or not what the caller needs."""


@dataclass
class Checkpoint:
    """A verified checkpoint's contents: JSON ``meta`` and the nested ``state`` of arrays."""

    path: Path
    meta: dict  # documents, experiment, iteration, metrics, rng, versions
    state: dict  # nested dicts of arrays (numpy from ``read``, torch from ``load``) and JSON values

    @property
    def iteration(self):
        """The training iterations done when it was written: where a resumed run continues."""
        return self.meta["iteration"]


def versions():
    """The software that wrote a checkpoint, recorded so an odd result can be traced to an upgrade."""
    import brian2

    torch = sys.modules.get("torch")  # recorded when the writer uses it, never imported for it
    return {
        "lsnn_bio": __version__,
        "torch": torch.__version__ if torch else None,
        "brian2": brian2.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def save(path, meta, state):
    """Write ``meta`` (JSON) and ``state`` (nested dicts of torch tensors or numpy arrays) to ``path`` atomically."""
    from safetensors.numpy import save as encode

    arrays = {}
    skeleton = _split(state, "", arrays)
    header = {"format": FORMAT, "meta": meta, "state": skeleton, "sha256": _digest(arrays), "versions": versions()}
    return write_atomically(path, encode(arrays, metadata={"lsnn_bio": json.dumps(header)}))


def checkpoint_file(path):
    """The checkpoint at ``path``, or in the run folder ``path``: every command and recipe takes either."""
    path = Path(path)
    if path.is_dir():
        if not (path / "checkpoint.safetensors").is_file():
            raise CheckpointError(
                f"{path}: a folder without checkpoint.safetensors (accepted: a run folder or a checkpoint)"
            )
        return path / "checkpoint.safetensors"
    return path


def read(path):
    """Read and verify a checkpoint (or a run folder's) into numpy arrays (no torch); refuse damaged files and non-finite weights."""
    from safetensors import safe_open

    path = checkpoint_file(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            arrays = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: not a readable checkpoint ({error})") from None
    try:
        header = json.loads(metadata["lsnn_bio"])
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: a safetensors file, but not an lsnn-bio checkpoint") from None
    if header.get("format") not in READABLE:
        raise CheckpointError(
            f"{path}: format '{header.get('format')}' is not one this version reads "
            f"(accepted: {', '.join(READABLE)}); re-export it with the lsnn-bio that wrote it"
        )
    if _digest(arrays) != header["sha256"]:
        raise CheckpointError(f"{path}: the tensor data does not match its checksum (the file is damaged)")
    state = _join(header["state"], arrays)
    trained = {f"twin/{k}": v for k, v in state.get("twin", {}).items()}
    for name, value in (state.get("network") or {}).get("projections", {}).items():
        trained[f"network/{name}/w"] = value["w"]
    for name, value in trained.items():
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            raise CheckpointError(
                f"{path}: '{name.split('/', 1)[1]}' contains NaN or Inf; refusing to use these weights"
            )
    meta = dict(header["meta"], versions=header.get("versions", {}), format=header["format"])
    return Checkpoint(path=path, meta=meta, state=state)


def load(path):
    """:func:`read` with every array as a torch tensor: what the trainer resumes from."""
    import torch

    saved = read(path)
    return replace(saved, state=_map(saved.state, torch.from_numpy))


# --------------------------------------------------------------------------- the trained network


def network_arrays(spec, parameters):
    """The arrays a checkpoint stores for a trained NetworkSpec: what Brian2 needs to simulate it.

    ``parameters``: ``{population: [variable, ...]}``, the per-neuron parameters training
    changed, whose values ``spec`` holds in each population's ``initial``.
    """
    projections = {
        p.name: {
            "i": np.asarray(p.i, np.int64),
            "j": np.asarray(p.j, np.int64),
            "w": np.asarray(p.w, np.float64),
            "delay": np.asarray(p.delay, np.int64),
            "sign": np.asarray(p.sign, np.int8),
            "shape": np.array([spec.size_of(p.source), spec.size_of(p.target)], np.int64),
        }
        for p in spec.projections
    }
    values = {
        population: {var: np.asarray(spec.populations[population].initial[var], np.float64) for var in variables}
        for population, variables in parameters.items()
        if variables
    }
    return {"projections": projections, "parameters": values}


def trained_network(spec, saved):
    """``spec`` (the untrained network the checkpoint's documents give) with the checkpoint's trained arrays.

    Refuses arrays that do not fit the network, e.g. documents edited after training.
    """
    network = saved.state.get("network") or _network_from_twin_state(saved.state.get("twin"), saved.path)
    where = f"{saved.path}: its weights do not fit its model '{spec.name}'"
    stored, expected = set(network["projections"]), {p.name for p in spec.projections}
    if stored != expected:
        raise CheckpointError(f"{where} (projections {sorted(stored)}, the model has {sorted(expected)})")
    projections = []
    for projection in spec.projections:
        arrays = network["projections"][projection.name]
        shape = (spec.size_of(projection.source), spec.size_of(projection.target))
        if tuple(int(n) for n in arrays["shape"]) != shape:
            raise CheckpointError(
                f"{where} (projection '{projection.name}' is {tuple(arrays['shape'])} here, {shape} in the model)"
            )
        projections.append(
            replace(projection, i=arrays["i"], j=arrays["j"], w=arrays["w"], delay=arrays["delay"], sign=arrays["sign"])
        )
    populations = dict(spec.populations)
    for name, values in network["parameters"].items():
        if name not in populations:
            raise CheckpointError(f"{where} (it has parameters of a population '{name}' the model lacks)")
        population = populations[name]
        initial = dict(population.initial)
        for var, value in values.items():
            if value.shape != (population.size,):
                raise CheckpointError(f"{where} ('{name}.{var}' has {value.shape}, expected ({population.size},))")
            initial[var] = value * population.unit(var)
        populations[name] = replace(population, initial=initial)
    return replace(spec, projections=projections, populations=populations)


def _network_from_twin_state(twin, path):
    """The trained network of a checkpoint that stored only the twin's state (format 1, or a trainer that
    saved no network): the dense (n_pre, n_post) weight, mask, delay and sign of each projection."""
    if not twin:
        raise CheckpointError(
            f"{path}: holds neither a trained network nor a twin state; re-export it by "
            "resuming its run (lsnn-bio train EXPERIMENT --out RUN --resume) with the lsnn-bio that wrote it"
        )
    synapses, parameters = {}, {}
    for key, value in twin.items():
        for old in ("mask", "delay", "sign", "coefficient"):  # before the twin engine rewrite: mask_NAME, ...
            if key.startswith(f"{old}_"):
                key = f"synapses.{key[len(old) + 1 :]}.{old}"
        if key.startswith("weights."):
            key = f"synapses.{key[len('weights.') :]}.weight"
        if key.startswith("neuron_parameters."):
            population, variable = key[len("neuron_parameters.") :].split("__", 1)
            key = f"neurons.{population}.values.{variable}"
        if key.startswith("synapses."):
            name, field = key[len("synapses.") :].rsplit(".", 1)
            synapses.setdefault(name, {})[field] = value
        elif key.startswith("neurons.") and ".values." in key:
            population, variable = key[len("neurons.") :].split(".values.", 1)
            parameters.setdefault(population, {})[variable] = np.asarray(value, np.float64)
    projections = {}
    for name, arrays in synapses.items():
        if not {"weight", "mask", "delay", "sign"} <= set(arrays):
            raise CheckpointError(
                f"{path}: the twin state of projection '{name}' lacks "
                f"{', '.join(sorted({'weight', 'mask', 'delay', 'sign'} - set(arrays)))}"
            )
        i, j = np.nonzero(arrays["mask"])
        projections[name] = {
            "i": i.astype(np.int64),
            "j": j.astype(np.int64),
            "w": np.asarray(arrays["weight"], np.float64)[i, j],
            "delay": np.asarray(arrays["delay"], np.int64)[i, j],
            "sign": np.asarray(arrays["sign"], np.int8)[i, j],
            "shape": np.array(arrays["mask"].shape, np.int64),
        }
    return {"projections": projections, "parameters": parameters}


# --------------------------------------------------------------------------- nested state <-> flat arrays


def _digest(arrays):
    digest = hashlib.sha256()
    for key in sorted(arrays):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def _split(value, prefix, arrays):
    """Replace arrays (torch or numpy) in a nested structure by references; collect them as numpy in ``arrays``."""
    if hasattr(value, "detach"):  # a torch tensor, recognised without importing torch
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        arrays[prefix] = np.ascontiguousarray(value)
        return {"__tensor__": prefix}
    if isinstance(value, dict):
        return {
            "__dict__": [
                [_split(k, f"{prefix}/k{i}", arrays), _split(v, f"{prefix}/{i}", arrays)]
                for i, (k, v) in enumerate(value.items())
            ]
        }
    if isinstance(value, (list, tuple)):
        return {
            "__list__": [_split(v, f"{prefix}/{i}", arrays) for i, v in enumerate(value)],
            "tuple": isinstance(value, tuple),
        }
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def _join(value, arrays):
    if isinstance(value, dict):
        if "__tensor__" in value:
            return arrays[value["__tensor__"]]
        if "__dict__" in value:
            return {_join(k, arrays): _join(v, arrays) for k, v in value["__dict__"]}
        if "__list__" in value:
            items = [_join(v, arrays) for v in value["__list__"]]
            return tuple(items) if value.get("tuple") else items
    return value


def _map(value, function):
    """Apply ``function`` to every array of a nested structure."""
    if isinstance(value, np.ndarray):
        return function(value)
    if isinstance(value, dict):
        return {k: _map(v, function) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_map(v, function) for v in value)
    return value

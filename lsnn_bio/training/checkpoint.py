"""Self-describing checkpoints: one safetensors file, written atomically, never unpickled.

Tensors (twin weights and buffers, optimiser and rewiring state, torch RNG)
are safetensors entries; everything else (the exact model and experiment
documents, iteration, metrics, numpy RNG state, versions) is JSON in the
file's metadata, with a SHA-256 of all tensor bytes so that a damaged file is
refused rather than half-read.
"""
import hashlib
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import LsnnBioError

FORMAT = "lsnn-bio checkpoint 1"


class CheckpointError(LsnnBioError, ValueError):
    """A checkpoint that is missing, damaged, or not what the caller needs."""


@dataclass
class Checkpoint:
    path: Path
    meta: dict  # documents, experiment, iteration, metrics, rng, versions
    state: dict  # nested dicts of tensors and JSON values (twin, optimizer, rewiring, torch_rng)

    @property
    def iteration(self):
        return self.meta["iteration"]


def versions():
    import brian2

    from .. import __version__

    return {"lsnn_bio": __version__, "torch": torch.__version__, "brian2": brian2.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def save(path, meta, state):
    """Write ``meta`` (JSON) and ``state`` (nested tensors) to ``path`` atomically."""
    path = Path(path)
    tensors = {}
    skeleton = _split(state, "", tensors)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    header = {"format": FORMAT, "meta": meta, "state": skeleton, "sha256": _digest(tensors), "versions": versions()}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(temporary), metadata={"lsnn_bio": json.dumps(header)})
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def load(path):
    """Read and verify a checkpoint; refuse damaged files and non-finite weights."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable checkpoint ({error})") from None
    try:
        header = json.loads(metadata["lsnn_bio"])
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: a safetensors file, but not an lsnn-bio checkpoint") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format '{header.get('format')}' is not '{FORMAT}'")
    if _digest(tensors) != header["sha256"]:
        raise CheckpointError(f"{path}: the tensor data does not match its checksum (the file is damaged)")
    state = _join(header["state"], tensors)
    for name, tensor in state.get("twin", {}).items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: '{name}' contains NaN or Inf; refusing to use these weights")
    meta = dict(header["meta"], versions=header.get("versions", {}))
    return Checkpoint(path=path, meta=meta, state=state)


def _digest(tensors):
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].numpy().tobytes() if tensors[key].dtype != torch.bfloat16 else tensors[key].view(torch.int16).numpy().tobytes())
    return digest.hexdigest()


def _split(value, prefix, tensors):
    """Replace tensors in a nested structure by references; collect them in ``tensors``."""
    if torch.is_tensor(value):
        tensors[prefix] = value
        return {"__tensor__": prefix}
    if isinstance(value, dict):
        return {"__dict__": [[_split(k, f"{prefix}/k{i}", tensors), _split(v, f"{prefix}/{i}", tensors)]
                             for i, (k, v) in enumerate(value.items())]}
    if isinstance(value, (list, tuple)):
        return {"__list__": [_split(v, f"{prefix}/{i}", tensors) for i, v in enumerate(value)], "tuple": isinstance(value, tuple)}
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def _join(value, tensors):
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__dict__" in value:
            return {_join(k, tensors): _join(v, tensors) for k, v in value["__dict__"]}
        if "__list__" in value:
            items = [_join(v, tensors) for v in value["__list__"]]
            return tuple(items) if value.get("tuple") else items
    return value

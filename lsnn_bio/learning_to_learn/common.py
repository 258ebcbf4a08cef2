"""What both learning-to-learn validations share: the twin of a checkpoint, its checks, the Neo annotations.

The twin is built in float64 by default, from the trained weights, so that a disagreement with
Brian2 is Brian2's and not float32 rounding (``twin_dtype='checkpoint'`` uses the checkpoint's dtype).
"""

from ..errors import LsnnBioError
from ..tasks import HELD_OUT


def trained_twin(trained, twin_dtype="checkpoint", device="cpu"):
    """The twin of a trained network (``load_trained``) at ``twin_dtype``: float64, float32 or the checkpoint's."""
    import torch

    from ..twin import Twin

    if twin_dtype == "checkpoint":
        twin_dtype = trained.experiment.config["dtype"]
    if twin_dtype not in ("float32", "float64"):
        raise LsnnBioError(f"twin_dtype {twin_dtype!r} is not accepted (accepted: float64, float32, checkpoint)")
    return Twin(trained.spec, dtype=getattr(torch, twin_dtype), device=device)


def check_split(split):
    if split not in HELD_OUT:
        raise LsnnBioError(f"split {split!r} is not a held-out split (accepted: {', '.join(HELD_OUT)})")


def check_task(trained, name, what):
    if trained.task.name != name:
        raise LsnnBioError(
            f"{trained.path}: {what} needs a checkpoint of a '{name}' experiment, this one was trained on "
            f"'{trained.task.name}'"
        )


def simulator_name(engine):
    return "brian2cuda" if engine == "cuda_standalone" else "brian2"


def annotations(trained, engine, split):
    return {
        "checkpoint": str(trained.path),
        "checkpoint_sha256": trained.digest,
        "engine": engine,
        "experiment": trained.experiment.name,
        "task": trained.task.name,
        "split": split,
    }

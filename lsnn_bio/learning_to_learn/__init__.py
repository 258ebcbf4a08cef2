"""Learning-to-learn back in Brian2: the trained network, weights frozen, learns new functions and finds new goals there.

``lsnn-bio validate`` and ``lsnn-bio simulate`` come here for a checkpoint of a learning-to-learn task
(``task_of``): regression (``regression.py``: Brian2's MSE per example beside the twin's; Neo with an
epoch per example) or navigation (``navigation.py``: Brian2 in closed loop beside the twin on the same
episodes; Neo with goal events and positions). Nothing here imports torch until a twin is built,
so simulating a regression checkpoint needs none.
"""

from pathlib import Path

from ..errors import LsnnBioError
from ..progress import STDERR
from .common import trained_twin
from .navigation import navigation_episodes, simulate_navigation, validate_navigation
from .regression import (
    regression_batches,
    regression_episodes,
    simulate_regression,
    twin_predictions,
    validate_regression,
    window_means,
)

__all__ = [
    "TASKS",
    "task_of",
    "validate",
    "simulate",
    "trained_twin",
    "regression_batches",
    "regression_episodes",
    "validate_regression",
    "simulate_regression",
    "twin_predictions",
    "window_means",
    "navigation_episodes",
    "validate_navigation",
    "simulate_navigation",
]

TASKS = ("function_regression", "meta_rl_navigation")


def task_of(checkpoint):
    """The task name a checkpoint was trained on, read from its metadata: how ``validate`` and ``simulate`` choose."""
    from ..training import checkpoint as checkpoints

    return checkpoints.read(checkpoint).meta["experiment"]["task"]["name"]


def validate(
    checkpoint,
    engine="cpp_standalone",
    split="test",
    trials=None,
    directory=None,
    progress=True,
    device="cpu",
    log=STDERR,
):
    """``lsnn-bio validate`` for an L2L checkpoint: ``trials`` functions (regression) or episodes (navigation).

    Navigation runs on Brian2's runtime engine whatever ``engine`` says: the closed loop needs Python between
    steps (``brian/closed_loop.py``), which a standalone binary cannot call.
    """
    if task_of(checkpoint) == "meta_rl_navigation":
        return validate_navigation(checkpoint, split=split, episodes=trials, progress=progress, device=device, log=log)
    return validate_regression(
        checkpoint,
        split=split,
        functions=trials,
        engine=engine,
        directory=directory,
        progress=progress,
        device=device,
        log=log,
    )


def simulate(
    checkpoint,
    trials,
    out,
    record=(),
    engine="cpp_standalone",
    raster=None,
    directory=None,
    split="test",
    log=STDERR,
):
    """``lsnn-bio simulate`` for an L2L checkpoint: held-out functions or episodes as Neo (and a raster of the first)."""
    from ..neo import EXTENSIONS

    out = Path(out)
    if out.suffix not in EXTENSIONS:
        raise LsnnBioError(f"--out {out}: unknown Neo format '{out.suffix}' (accepted: {', '.join(EXTENSIONS)})")
    if not out.parent.exists():
        raise LsnnBioError(f"--out {out}: the folder {out.parent} does not exist")
    if task_of(checkpoint) == "meta_rl_navigation":
        report, trained, first, events, inputs = simulate_navigation(checkpoint, trials, out, record, split, log=log)
    else:
        report, trained, first, events, inputs = simulate_regression(
            checkpoint, trials, out, record, engine, split, directory, log=log
        )
    if raster:
        from ..plots import raster as draw

        draw(
            trained.spec,
            first,
            raster,
            events=events,
            inputs=inputs,
            title=f"{trained.model_name}, {split} episode 0 ({report['engine']})",
        )
    return {**report, "raster": str(raster) if raster else None}

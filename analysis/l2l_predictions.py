"""What the frozen network has learned about a new function after k examples: its predictions over the whole input range.

    python analysis/l2l_predictions.py runs/l2l_sine/checkpoint.safetensors --out runs/l2l_sine_predictions.png
    python analysis/l2l_predictions.py runs/l2l_regression/checkpoint.safetensors --out runs/l2l_regression_predictions.png

For each of the first ``--functions`` held-out functions of ``--split`` (test by default), the twin
(trained weights, no further learning) is run through the function's first k examples; from the
state it is then in, it is asked for the next example at every point of a grid of inputs x (each
with the (k-1)-th target as the previous-target input, exactly as example k would get it; spikes
drawn from the task's tuning curves with a seeded generator), and its window-averaged readout is the
prediction. One row per function: the target (curve or map) and the prediction after each k in
``--after``, with the examples seen so far as dots. One input (sine): curves; two inputs (network):
maps, on the target's colour scale (arrows on a row's colour bar: some predictions lie beyond it and
are drawn clipped).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch


def _expand(state, b, count):
    """Function ``b``'s state out of a batch, repeated ``count`` times (one per query point)."""
    from lsnn_bio.twin import TwinState

    neurons = type(state.neurons)(*(t[b : b + 1].expand(count, *t.shape[1:]).contiguous() for t in state.neurons))
    history = state.history[:, b : b + 1].expand(-1, count, -1).contiguous()
    return TwinState(neurons, history, state.step)


def query_rates(task, batch, b, k, grid):
    """Input rates (Q, n_inputs) of example k of function ``b`` if its x were each point of ``grid`` (Q, n_x)."""
    previous_x = np.repeat(batch.x[b : b + 1, max(k - 1, 0)][None], len(grid), axis=0)  # (Q, 1, n_x)
    previous_y = np.repeat(batch.targets[b : b + 1, max(k - 1, 0)][None], len(grid), axis=0)
    if k == 0:  # nothing seen yet: no previous target
        return task.input_rates(grid[:, None, :], previous_y)[:, 0]
    x = np.concatenate([previous_x, grid[:, None, :]], axis=1)  # the query is the second of two examples
    return task.input_rates(x, np.concatenate([previous_y, previous_y], axis=1))[:, 1]


def query(trained, twin, batch, b, k, spikes):
    """Predictions (Q,) for query spikes (example_steps, Q, n_inputs), from function ``b``'s state after ``k`` examples."""
    task = trained.task
    count = spikes.shape[1]
    with torch.no_grad():
        state = None
        if k:
            inputs = torch.as_tensor(batch.inputs[: k * task.example_steps, b : b + 1], dtype=twin.dtype)
            state = _expand(twin({trained.input: inputs}).final_state, 0, count)
        result = twin({trained.input: torch.as_tensor(spikes, dtype=twin.dtype)}, state=state)
        readout = result.outputs[trained.readout][task.example_steps - task.readout_steps :].double().mean(dim=0)
    return readout[:, 0].numpy()


def predict(trained, twin, batch, b, k, grid, rng):
    """Predictions (Q,) at ``grid`` after ``k`` examples, each query's spikes drawn from the task's tuning curves."""
    p = query_rates(trained.task, batch, b, k, grid) * trained.task.dt_ms / 1000.0
    spikes = (rng.random((trained.task.example_steps,) + p.shape) < p[None]).astype(np.float32)
    return query(trained, twin, batch, b, k, spikes)


def draw(checkpoint, out, functions=3, after=(0, 2, 5, 10, 40), points=41, seed=0, split="test"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lsnn_bio.errors import LsnnBioError
    from lsnn_bio.learning_to_learn import regression_batches, trained_twin
    from lsnn_bio.learning_to_learn.common import check_task
    from lsnn_bio.trained import load_trained

    trained = load_trained(checkpoint)
    check_task(trained, "function_regression", "l2l_predictions")
    twin = trained_twin(trained)
    task = trained.task
    if not 1 <= functions <= task.split_size(split):
        raise LsnnBioError(
            f"--functions {functions}: accepted 1 to {task.split_size(split)}, the run's {split} functions"
        )
    if points < 2:
        raise LsnnBioError(f"--points {points}: accepted 2 or more grid points per input dimension")
    left = [str(k) for k in after if k >= task.examples]
    if left:
        print(
            f"l2l_predictions: --after {', '.join(left)} left out: the episodes have {task.examples} examples",
            file=sys.stderr,
        )
    after = [k for k in after if k < task.examples]
    if not after:
        raise LsnnBioError(f"--after: no example count below the episode's {task.examples} examples")
    batch = regression_batches(task, split, functions, batch_size=functions)[0]
    rng = np.random.default_rng(seed)
    r = task.input_range
    if task.n_x == 1:
        grid = np.linspace(-r, r, points)[:, None]
        figure, axes = plt.subplots(functions, 1, figsize=(6.5, 2.4 * functions), squeeze=False)
        for b in range(batch.size):
            ax = axes[b, 0]
            target = batch.functions.__class__(
                batch.functions.family, {key: v[b : b + 1] for key, v in batch.functions.params.items()}
            )
            ax.plot(grid[:, 0], target(grid[None])[0, :, 0], "k-", lw=2, label="target F")
            for i, k in enumerate(after):
                ax.plot(
                    grid[:, 0],
                    predict(trained, twin, batch, b, k, grid, rng),
                    "-",
                    color=plt.cm.viridis(i / max(len(after) - 1, 1)),
                    lw=1.2,
                    label=f"after {k} examples",
                )
            seen = max(after)
            ax.plot(
                batch.x[b, :seen, 0], batch.targets[b, :seen, 0], "o", ms=3, color="C3", label=f"first {seen} examples"
            )
            ax.set_ylabel(f"{split} function {b}")
            ax.grid(alpha=0.3)
        axes[0, 0].legend(fontsize=6, ncol=2, loc="upper right")
        axes[-1, 0].set_xlabel("x")
    else:
        ticks = np.linspace(-r, r, points)
        gx, gy = np.meshgrid(ticks, ticks, indexing="xy")
        grid = np.stack([gx.ravel(), gy.ravel()], axis=-1)
        figure, axes = plt.subplots(
            functions, len(after) + 1, figsize=(2.1 * (len(after) + 1), 2.1 * functions), squeeze=False
        )
        for b in range(batch.size):
            target = batch.functions.__class__(
                batch.functions.family, {key: v[b : b + 1] for key, v in batch.functions.params.items()}
            )
            truth = target(grid[None])[0, :, 0].reshape(points, points)
            lo, hi = truth.min(), truth.max()
            panels = [("target F", truth, 0)] + [
                (f"after {k}", predict(trained, twin, batch, b, k, grid, rng).reshape(points, points), k) for k in after
            ]
            for c, (title, values, k) in enumerate(panels):
                ax = axes[b, c]
                image = ax.imshow(values, origin="lower", extent=(-r, r, -r, r), vmin=lo, vmax=hi, cmap="viridis")
                if k:
                    ax.plot(batch.x[b, :k, 0], batch.x[b, :k, 1], "o", ms=2, color="w", mec="k", mew=0.3)
                mse = float(((values - truth) ** 2).mean())
                ax.set_title(title if c == 0 else f"{title} (MSE {mse:.3f})", fontsize=7)
                ax.set_xticks([])
                ax.set_yticks([])
            # the scale is the target's: arrows on the colour bar say that predictions beyond it are clipped
            low, high = min(v.min() for _, v, _ in panels) < lo, max(v.max() for _, v, _ in panels) > hi
            extend = {(True, True): "both", (True, False): "min", (False, True): "max"}.get((low, high), "neither")
            figure.colorbar(image, ax=axes[b, -1], fraction=0.046, extend=extend)
    figure.suptitle(f"{trained.experiment.name}: predictions of the frozen network after k examples", fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=150)
    plt.close(figure)
    return Path(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "checkpoint", metavar="RUN", help="a function_regression run folder or its checkpoint.safetensors"
    )
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--functions", type=int, default=3, help="held-out functions, one row each (default 3)")
    parser.add_argument("--split", default="test", choices=["test", "validation"], help="held-out split (default test)")
    parser.add_argument("--after", default="0,2,5,10,40", help="numbers of examples seen (default 0,2,5,10,40)")
    parser.add_argument("--points", type=int, default=41, help="grid points per input dimension (default 41)")
    args = parser.parse_args(argv)
    try:
        after = [int(k) for k in args.after.split(",") if k.strip()]
    except ValueError:
        parser.error(f"--after {args.after}: not a comma-separated list of example counts (accepted: e.g. 0,2,5,10,40)")
    if any(k < 0 for k in after):
        parser.error(f"--after {args.after}: example counts are 0 or more")
    from lsnn_bio.errors import one_line_errors

    with one_line_errors("l2l_predictions"):
        print(draw(args.checkpoint, args.out, args.functions, after, args.points, split=args.split))


if __name__ == "__main__":
    main()

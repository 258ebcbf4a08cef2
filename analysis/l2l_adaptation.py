"""Where a frozen LSNN keeps what it has learned about the current function: its adaptive thresholds over one episode.

    python analysis/l2l_adaptation.py runs/l2l_sine/checkpoint.safetensors --out runs/l2l_sine_adaptation.png

One held-out episode (``--episode`` of ``--split``, test by default) run through the twin with the
trained weights, four panels sharing the time axis: spikes of the recurrent populations (every
neuron, LIF then ALIF); the ALIF neurons' adaptive threshold A = v_th + beta * b (mean, and the
10-90 % range over neurons; it rises over the first examples and then carries information across
them, since tau_a outlasts the whole episode); the relative change of each ALIF neuron's threshold
from its mean over the episode, as an image (neurons sorted by when their threshold peaks); and the
prediction (readout averaged over each example's window) against the target, example by example.
``--variable`` draws another variable in the threshold's place, in its unit from the model's equations.
"""

import argparse
from pathlib import Path

import numpy as np
import torch


def draw(checkpoint, out, episode=0, population="ALIF", variable="A", split="test"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lsnn_bio.errors import LsnnBioError
    from lsnn_bio.learning_to_learn import regression_batches, trained_twin
    from lsnn_bio.learning_to_learn.common import check_task
    from lsnn_bio.trained import load_trained
    from lsnn_bio.training.losses import window_logits
    from lsnn_bio.units import neo_unit

    trained = load_trained(checkpoint)
    check_task(trained, "function_regression", "l2l_adaptation")
    task, twin = trained.task, trained_twin(trained)
    if population not in trained.spec.populations:
        raise LsnnBioError(
            f"--population {population}: not in {trained.spec.name} (accepted: {', '.join(trained.spec.populations)})"
        )
    if not 0 <= episode < task.split_size(split):
        raise LsnnBioError(
            f"--episode {episode}: no such {split} function (accepted: 0 to {task.split_size(split) - 1})"
        )
    batch = regression_batches(task, split, episode + 1)[-1]
    b = batch.size - 1
    with torch.no_grad():
        result = twin(
            {trained.input: torch.as_tensor(batch.inputs[:, b : b + 1], dtype=twin.dtype)},
            record=[(population, variable)],
        )
    dt_ms = float(trained.spec.dt) * 1e3
    time_s = np.arange(task.steps) * dt_ms / 1000.0
    unit, factor = neo_unit(trained.spec.populations[population].unit(variable).dim)  # A: volts -> mV
    threshold = result.states[(population, variable)][:, 0].double().numpy() * factor
    predictions = window_logits(result.outputs[trained.readout].double(), torch.as_tensor(batch.windows[b : b + 1]))[
        0, :, 0
    ]

    figure, axes = plt.subplots(
        4, 1, figsize=(8, 8.5), sharex=True, gridspec_kw={"height_ratios": [2.2, 1.2, 1.6, 1.6]}
    )
    offset = 0
    for i, (name, raster) in enumerate(result.spikes.items()):
        steps, neurons = np.nonzero(raster[:, 0].numpy())
        axes[0].plot(steps * dt_ms / 1000.0, neurons + offset, "|", ms=2, color=f"C{i}", label=name)
        offset += raster.shape[-1]
    axes[0].set_ylabel("neuron")
    axes[0].legend(fontsize=7, loc="upper right", markerscale=4)
    axes[0].set_title(f"{trained.experiment.name}: {split} function {episode}, weights frozen", fontsize=9)
    low, high = np.percentile(threshold, [10, 90], axis=1)
    axes[1].fill_between(time_s, low, high, color="C1", alpha=0.3, lw=0, label="10-90 % of neurons")
    axes[1].plot(time_s, threshold.mean(axis=1), color="C1", lw=1.2, label=f"mean {population}.{variable}")
    axes[1].set_ylabel(f"{variable} ({unit})")
    axes[1].legend(fontsize=7, loc="lower right")
    relative = threshold / threshold.mean(axis=0, keepdims=True) - 1.0
    order = np.argsort(np.argmax(threshold, axis=0))
    limit = max(np.percentile(np.abs(relative), 99), 1e-6)
    axes[2].imshow(
        relative[:, order].T,
        aspect="auto",
        origin="lower",
        cmap="RdBu_r",
        vmin=-limit,
        vmax=limit,
        extent=(0, time_s[-1] + dt_ms / 1000.0, 0, relative.shape[1]),
        interpolation="nearest",
    )
    axes[2].set_ylabel(f"{population} neuron\n(by peak time)")
    starts = batch.windows[b, :, 0] * dt_ms / 1000.0
    stops = batch.windows[b, :, 1] * dt_ms / 1000.0
    centres = (starts + stops) / 2
    axes[3].plot(centres, batch.targets[b, :, 0], "o", ms=3, color="k", label="target F(x_k)")
    axes[3].plot(centres, predictions.numpy(), "s", ms=3, color="C3", label="prediction")
    axes[3].vlines(
        centres,
        np.minimum(predictions.numpy(), batch.targets[b, :, 0]),
        np.maximum(predictions.numpy(), batch.targets[b, :, 0]),
        color="C3",
        lw=0.6,
    )
    axes[3].set_ylabel("output")
    axes[3].set_xlabel("time in the episode (s)")
    axes[3].legend(fontsize=7, loc="upper right")
    for ax in axes:
        ax.grid(alpha=0.25)
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
    parser.add_argument("--episode", type=int, default=0, help="held-out function index (default 0)")
    parser.add_argument("--split", default="test", choices=["test", "validation"], help="held-out split (default test)")
    parser.add_argument("--population", default="ALIF", help="adaptive population (default ALIF)")
    parser.add_argument("--variable", default="A", help="its adaptation variable to draw (default A, the threshold)")
    args = parser.parse_args(argv)
    from lsnn_bio.errors import one_line_errors

    with one_line_errors("l2l_adaptation"):
        print(draw(args.checkpoint, args.out, args.episode, args.population, args.variable, args.split))


if __name__ == "__main__":
    main()

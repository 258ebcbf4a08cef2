"""Figures that say more than numbers: a trial's raster with its readout traces."""
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def raster(spec, result, path, events=(), title=""):
    """Spikes of every spiking population (one colour each) above the readout outputs.

    ``result`` has ``.spikes[pop]`` (steps, N) and ``.states[pop][var]``;
    ``events`` are (step, duration, kind, label) tuples drawn as shaded spans.
    """
    dt_ms = float(spec.dt) * 1e3
    spiking = [p for p in spec.populations.values() if p.spiking and p.name in result.spikes]
    readouts = [p for p in spec.readouts if p.name in result.states]
    figure, axes = plt.subplots(1 + len(readouts), 1, figsize=(10, 4 + 1.8 * len(readouts)), sharex=True,
                                gridspec_kw={"height_ratios": [3] + [1] * len(readouts)}, squeeze=False)
    top = axes[0, 0]
    offset = 0
    for index, population in enumerate(spiking):
        steps, neurons = np.nonzero(result.spikes[population.name])
        top.scatter(steps * dt_ms, neurons + offset, s=2, color=f"C{index}", label=f"{population.name} ({population.model.name})")
        offset += population.size
    shades = {"store": "#d6e6f5", "recall": "#fde3c8", "cue": "#e8e8e8"}
    for step, duration, kind, label in events:
        if kind in shades:
            for ax in axes[:, 0]:
                ax.axvspan(step * dt_ms, (step + duration) * dt_ms, color=shades[kind], zorder=0)
        top.text(step * dt_ms, offset + 0.5, f"{kind} {label}".strip(), fontsize=7, va="bottom")
    top.set_ylabel("neuron")
    top.set_ylim(-0.5, offset + 3)
    top.legend(loc="upper right", fontsize=8, markerscale=4)
    top.set_title(title or spec.name)
    for ax, population in zip(axes[1:, 0], readouts):
        trace = result.states[population.name][population.model.output]
        steps = np.arange(trace.shape[0]) * dt_ms
        for k in range(trace.shape[1]):
            ax.plot(steps, trace[:, k], lw=1, label=f"{population.name}[{k}]")
        ax.set_ylabel(f"{population.name}.{population.model.output}")
        if trace.shape[1] <= 10:
            ax.legend(loc="upper right", fontsize=6, ncol=min(trace.shape[1], 5))
    axes[-1, 0].set_xlabel("time (ms)")
    figure.tight_layout()
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
    figure.savefig(temporary, dpi=120)
    plt.close(figure)
    os.replace(temporary, path)
    return path

"""Figures: a simulated trial's raster with its readout, a Neo segment's raster, and the compared distributions.

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot's global state,
so importing this module changes nothing for a notebook that uses another backend.
"""

import io
import math

import numpy as np
from matplotlib.ticker import MaxNLocator

from .files import write_atomically
from .units import MS, seconds

_LIGHT = ("#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9", "#f6e8c3", "#c7eae5")
_MAX_EPOCH_KINDS = len(_LIGHT)
DPI = 110


def raster(spec, result, path, events=(), title="", inputs=None, class_names=None):
    """Draw one simulated trial to the PNG ``path`` (written atomically) and return the path.

    ``result`` has ``.spikes[pop]`` (steps, N) and ``.states[(pop, var)]`` (SI), as a BrianResult; ``events`` are
    ``(step, duration_steps, kind, label)`` tuples, shaded by kind with a legend; ``inputs``
    (steps, n_inputs) 0/1 adds the input spikes above; ``class_names`` name the readout's
    traces (else 'class k').
    """
    figure = raster_figure(spec, result, events=events, title=title, inputs=inputs, class_names=class_names)
    return write_atomically(path, png(figure))


def raster_figure(spec, result, events=(), title="", inputs=None, class_names=None):
    """The Figure :func:`raster` saves (for tests and notebooks)."""
    dt_ms = seconds(spec.dt, "dt") / MS
    spiking = [p for p in spec.populations.values() if p.spiking and not p.readout and p.name in result.spikes]
    readouts = [p for p in spec.readouts if (p.name, p.model.output) in result.states]
    panels = (["inputs"] if inputs is not None else []) + ["spikes"] + [p.name for p in readouts]
    ratios = [3 if p == "spikes" else 1.2 for p in panels]
    figure = _figure(10, 1.2 + sum(ratios) * 1.1)
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": ratios})[:, 0]
    spans = [(step * dt_ms, (step + duration) * dt_ms, str(kind), str(label)) for step, duration, kind, label in events]
    handles = _shade(axes, spans)
    row = dict(zip(panels, axes))
    if inputs is not None:
        ax = row["inputs"]
        steps, channels = np.nonzero(np.asarray(inputs))
        ax.scatter(steps * dt_ms, channels, s=1.5, marker="|", linewidths=0.6, color="0.35")
        ax.set_ylabel("input")
        ax.set_ylim(-0.5, np.asarray(inputs).shape[1] - 0.5)
    ax, offset = row["spikes"], 0
    for index, population in enumerate(spiking):
        steps, neurons = np.nonzero(result.spikes[population.name])
        ax.scatter(steps * dt_ms, neurons + offset, s=4, marker="|", linewidths=0.8, color=f"C{index}")
        offset += population.size
    for start, _, _, label in spans:
        if label:
            ax.text(start, offset + 0.3, label, fontsize=6, va="bottom", color="0.3")
    ax.set_ylim(-0.5, offset + max(2.0, 0.06 * offset))
    ax.set_ylabel("neuron")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _side_legends(
        ax, [p.name if p.model.name == p.name else f"{p.name} ({p.model.name})" for p in spiking], handles, "task epoch"
    )
    for population in readouts:
        ax = row[population.name]
        trace = np.asarray(result.states[population.name, population.model.output])
        times = np.arange(trace.shape[0]) * dt_ms
        names = _trace_names(trace.shape[1], class_names)
        for k in range(trace.shape[1]):
            ax.plot(times, trace[:, k], lw=1, label=names[k], color=f"C{k % 10}")
        ax.set_ylabel(f"readout\n{population.name}" if len(readouts) > 1 else "readout")
        if trace.shape[1] <= 12:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    axes[0].set_title(title or spec.name)
    axes[-1].set_xlabel("time (ms)")
    axes[-1].set_xlim(0, max(_steps(result), 1) * dt_ms)
    return figure


def segment_raster(segment, title):
    """PNG bytes of :func:`segment_raster_figure`."""
    return png(segment_raster_figure(segment, title))


def segment_raster_figure(segment, title):
    """A Neo segment's spike trains coloured by population, its epochs shaded with a legend."""
    import quantities as pq

    figure = _figure(10, 4.8)
    ax = figure.add_subplot(1, 1, 1)
    trains = list(segment.spiketrains)
    stops = [float(t.t_stop.rescale(pq.s).magnitude) for t in trains]
    unit = pq.s if stops and max(stops) - min(float(t.t_start.rescale(pq.s).magnitude) for t in trains) > 10 else pq.ms
    spans = []
    for epoch in segment.epochs:
        kinds = epoch.array_annotations.get("kind", epoch.labels)
        labels = epoch.array_annotations.get("label", [""] * len(epoch))
        for start, duration, kind, label in zip(
            epoch.rescale(unit).magnitude, epoch.durations.rescale(unit).magnitude, kinds, labels
        ):
            spans.append((float(start), float(start + duration), str(kind), str(label)))
    handles = _shade([ax], spans)
    populations = list(dict.fromkeys(t.annotations.get("source_population") for t in trains))
    colour = {p: f"C{i % 10}" for i, p in enumerate(populations)}
    size = float(np.clip(3000.0 / max(len(trains), 1), 4.0, 60.0))
    for p in populations:
        rows = [i for i, t in enumerate(trains) if t.annotations.get("source_population") == p]
        times = [trains[i].rescale(unit).magnitude for i in rows]
        x = np.concatenate(times) if times else np.empty(0)
        y = np.concatenate([np.full(len(t), i) for t, i in zip(times, rows)]) if times else np.empty(0)
        ax.scatter(x, y, s=size, marker="|", linewidths=1, color=colour[p])
    if trains:
        start = min(float(t.t_start.rescale(unit).magnitude) for t in trains)
        stop = max(float(t.t_stop.rescale(unit).magnitude) for t in trains)
        ax.set_xlim(start, stop)
    ax.set_ylim(-0.5, max(len(trains), 1) - 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    labels = [str(p) for p in populations] if any(p is not None for p in populations) else []
    _side_legends(ax, labels, handles, "epoch")
    ax.set_xlabel(f"time ({unit.dimensionality.string})")
    ax.set_ylabel("spike train")
    ax.set_title(title)
    return figure


# (key in the statistics, per-train or per-pair, axis label)
DISTRIBUTIONS = (
    ("rate_hz", "train", "firing rate (Hz)"),
    ("cv_isi", "train", "CV of inter-spike intervals"),
    ("fano_factor", "train", "Fano factor of spike counts"),
    ("correlation", "pair", "spike-count correlation"),
    ("van_rossum", "pair", "van Rossum distance"),
)


def distributions(stats, pairs, sides):
    """PNG bytes of :func:`distributions_figure`."""
    return png(distributions_figure(stats, pairs, sides))


def distributions_figure(stats, pairs, sides):
    """Per-train and per-pair distributions of both sides, each side binned on its own.

    Heights are the fraction of that side's trains (or pairs) per bin, so a narrow distribution
    keeps its shape next to a wide one; rates spanning more than two decades use a log axis.
    ``stats`` and ``pairs`` per side as :func:`lsnn_bio.statistics.statistics_and_pairs` gives them.
    """
    figure = _figure(13, 7.5)
    grid = figure.subplots(2, 3).ravel()
    for ax, (key, kind, label) in zip(grid, DISTRIBUTIONS):
        values = {
            side: _finite(pairs[side][key] if kind == "pair" else [t[key] for t in stats[side]["trains"]])
            for side in sides
        }
        log = key == "rate_hz" and _spans_decades(values.values())
        for i, side in enumerate(sides):
            data = values[side][values[side] > 0] if log else values[side]
            if data.size == 0:
                continue
            weights = np.full(data.size, 1.0 / data.size)
            edges = _edges(data, log)
            ax.hist(data, bins=edges, weights=weights, histtype="stepfilled", alpha=0.3, color=f"C{i}")
            ax.hist(
                data,
                bins=edges,
                weights=weights,
                histtype="step",
                lw=1.2,
                color=f"C{i}",
                label=f"{side} (n = {data.size})",
            )
            ax.axvline(float(np.mean(data)), color=f"C{i}", ls="--", lw=1)
        if log:
            ax.set_xscale("log")
            label += " (log axis, silent trains left out)"
        if not any(v.size for v in values.values()):
            ax.text(0.5, 0.5, "undefined on both sides", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.legend(fontsize=7, frameon=False)
        ax.set_xlabel(label, fontsize=9)
        ax.set_ylabel(f"fraction of {kind}s per bin", fontsize=9)
    _counts_panel(grid[-1], stats, sides)
    figure.suptitle("Distributions (each side binned on its own; dashed: mean)", fontsize=11)
    return figure


# ----------------------------------------------------------------------------- helpers


def _counts_panel(ax, stats, sides):
    ax.axis("off")
    rows = [("spike trains", "n_trains"), ("segments", "n_segments"), ("spikes", "n_spikes")]
    cells = [("", *sides)] + [(label, *(str(stats[side][key]) for side in sides)) for label, key in rows]
    cells.append(("mean duration (s)", *(f"{stats[side]['mean_segment_duration_s']:.3g}" for side in sides)))
    cells.append(("silent trains", *(str(stats[side]["rate_hz"]["n_silent"]) for side in sides)))
    cells.append(("Fano factor over", *(stats[side]["fano_factor"]["over"] for side in sides)))
    lines = [f"{row[0]:18s}" + "".join(f"{cell:>16s}" for cell in row[1:]) for row in cells]
    ax.text(0.0, 0.95, "\n".join(lines), family="monospace", fontsize=8, va="top", transform=ax.transAxes)


def _side_legends(ax, populations, epochs, epoch_title):
    """Population legend at the top right outside the axes, shaded-epoch legend below it; both kept."""
    style = dict(fontsize=8, title_fontsize=8, frameon=False)
    if populations:
        legend = ax.legend(
            handles=_population_handles(populations),
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            title="population",
            **style,
        )
        if epochs:
            ax.add_artist(legend)
    if epochs:
        ax.legend(handles=epochs, loc="lower left", bbox_to_anchor=(1.01, 0.0), title=epoch_title, **style)


def _population_handles(names):
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], marker="|", linestyle="None", markersize=9, markeredgewidth=2, color=f"C{i % 10}", label=name)
        for i, name in enumerate(names)
    ]


def _finite(values):
    values = np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
    return values[np.isfinite(values)]


def _spans_decades(groups):
    positive = np.concatenate([g[g > 0] for g in groups]) if groups else np.empty(0)
    return positive.size > 1 and positive.max() / positive.min() > 100


def _edges(data, log):
    low, high = float(data.min()), float(data.max())
    if log:
        low, high = math.log10(low), math.log10(high)
    if high - low < 1e-12 * max(1.0, abs(low)):
        width = max(abs(low) * 0.02, 1e-3)
        edges = np.array([low - width, low + width])
    else:
        edges = np.histogram_bin_edges(np.log10(data) if log else data, bins="auto")
        if edges.size > 41:
            edges = np.linspace(low, high, 41)
    return 10.0**edges if log else edges


def _shade(axes, spans):
    """Shade (start, stop, kind, label) spans on every axis, one colour per kind; legend handles."""
    from matplotlib.patches import Patch

    kinds = list(dict.fromkeys(kind for _, _, kind, _ in spans))
    if len(kinds) > _MAX_EPOCH_KINDS:
        colour = {kind: "0.9" for kind in kinds}
        handles = [Patch(color="0.9", label=f"{len(kinds)} kinds of epoch")]
    else:
        colour = {kind: _LIGHT[i] for i, kind in enumerate(kinds)}
        handles = [Patch(color=colour[kind], alpha=0.45, label=kind) for kind in kinds]
    for ax in axes:
        for start, stop, kind, _ in spans:
            ax.axvspan(start, stop, color=colour[kind], alpha=0.45, zorder=0, lw=0)
    return handles


def _trace_names(n, class_names):
    if class_names is not None and len(class_names) == n:
        return [str(name) for name in class_names]
    return [f"class {k}" for k in range(n)]


def _steps(result):
    shapes = [np.asarray(a).shape[0] for a in result.spikes.values()]
    shapes += [np.asarray(v).shape[0] for v in result.states.values()]
    return max(shapes, default=0)


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def png(figure):
    """PNG bytes of ``figure``, grown to hold the legends placed right of its axes."""
    buffer = io.BytesIO()
    figure.tight_layout()
    # "tight" grows the image to the legends placed right of the axes (tight_layout leaves them out, and
    # a legend kept with add_artist must be named to count).
    from matplotlib.legend import Legend

    legends = [a for ax in figure.axes for a in (*ax.artists, ax.get_legend()) if isinstance(a, Legend)]
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15, bbox_extra_artists=legends)
    return buffer.getvalue()

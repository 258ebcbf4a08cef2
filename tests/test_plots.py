"""Figures read cleanly: population names once, readout traces named by class, a legend for task epochs."""

from types import SimpleNamespace

import neo
import numpy as np
import quantities as pq

import lsnn_bio
from lsnn_bio import plots
from lsnn_bio.statistics import statistics_and_pairs

EVENTS = [(0, 50, "store", "1"), (50, 50, "bit", "0"), (100, 50, "recall", "1"), (150, 50, "bit", "1")]


def store_recall_trial(models, steps=200, seed=0):
    spec = lsnn_bio.load_network(models / "lsnn_store_recall.yaml", seed=0)
    rng = np.random.default_rng(seed)
    result = SimpleNamespace(
        spikes={p: rng.random((steps, 10)) < 0.05 for p in ("LIF", "ALIF")},
        states={("out", "out"): rng.normal(size=(steps, 2))},
    )
    return spec, result, (rng.random((steps, 100)) < 0.02)


def legend_texts(ax):
    return [
        [t.get_text() for t in legend.get_texts()]
        for legend in [*ax.artists, ax.get_legend()]
        if legend is not None and hasattr(legend, "get_texts")
    ]


def test_raster_names_populations_once_and_readout_traces_by_class(models, tmp_path):
    spec, result, inputs = store_recall_trial(models)
    figure = plots.raster_figure(
        spec, result, events=EVENTS, title="trial 0", inputs=inputs, class_names=["bit 0", "bit 1"]
    )
    inputs_ax, spikes_ax, readout_ax = figure.axes
    assert inputs_ax.get_ylabel() == "input" and len(inputs_ax.collections) == 1
    populations = [f"{p.name} ({p.model.name})" if p.model.name != p.name else p.name for p in spec.recurrent]
    assert sorted(legend_texts(spikes_ax)) == sorted([populations, ["store", "bit", "recall"]])
    assert readout_ax.get_ylabel() == "readout"
    assert legend_texts(readout_ax) == [["bit 0", "bit 1"]]
    assert len(readout_ax.patches) == len(EVENTS)  # every epoch shaded, on every panel
    without = plots.raster_figure(spec, result)
    assert len(without.axes) == 2 and legend_texts(without.axes[1]) == [["class 0", "class 1"]]
    path = plots.raster(spec, result, tmp_path / "raster.png", events=EVENTS)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and [p.name for p in tmp_path.iterdir()] == ["raster.png"]


def test_legends_right_of_the_axes_are_inside_the_saved_image(models):
    import io

    from matplotlib.image import imread

    spec, result, inputs = store_recall_trial(models)
    figure = plots.raster_figure(
        spec, result, events=EVENTS, inputs=inputs, class_names=["stored bit 0", "stored bit 1"]
    )
    width_px = imread(io.BytesIO(plots.png(figure))).shape[1]
    figure.set_dpi(plots.DPI)  # the saved layout, drawn again at the saved resolution
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    left_px = min(ax.get_tightbbox(renderer).x0 for ax in figure.axes)
    legends = [a for ax in figure.axes for a in [*ax.artists, ax.get_legend()] if hasattr(a, "get_texts")]
    assert len(legends) == 3  # populations, task epochs, readout classes
    for legend in legends:
        right_px = legend.get_window_extent(renderer).x1
        assert right_px - left_px <= width_px, [t.get_text() for t in legend.get_texts()]


def test_tasks_name_their_readout_traces():
    from lsnn_bio.tasks import StoreRecall

    assert StoreRecall().class_names == ("stored bit 0", "stored bit 1")


def test_a_population_named_apart_from_its_model_shows_both(models):
    spec = lsnn_bio.load_network(models / "adex_network.yaml", seed=0)
    result = SimpleNamespace(spikes={"exc": np.zeros((30, 40), dtype=bool)}, states={})
    assert legend_texts(plots.raster_figure(spec, result).axes[0]) == [["exc (AdEx)"]]


def test_each_side_gets_its_own_bins():
    """A narrow rate distribution beside a wide one keeps its shape instead of collapsing into one bar."""
    rng = np.random.default_rng(1)
    blocks = {}
    for side, rates in (("simulated", rng.uniform(1.0, 80.0, 40)), ("recording", 10.0 + rng.normal(0, 0.2, 40))):
        segment = neo.Segment()
        for i, rate in enumerate(rates):
            times = np.sort(rng.uniform(0.0, 50.0, rng.poisson(rate * 50.0)))
            segment.spiketrains.append(neo.SpikeTrain(times * pq.s, t_stop=50 * pq.s, channel_id=i))
        blocks[side] = neo.Block()
        blocks[side].segments.append(segment)
    measured = {side: statistics_and_pairs(block) for side, block in blocks.items()}
    figure = plots.distributions_figure(
        {s: m[0] for s, m in measured.items()}, {s: m[1] for s, m in measured.items()}, ("simulated", "recording")
    )
    rates_ax = figure.axes[0]
    outlines = [p for p in rates_ax.patches if p.get_fill() is False]
    narrow = outlines[1].get_path().vertices[:, 0]
    wide = outlines[0].get_path().vertices[:, 0]
    assert len(np.unique(narrow)) > 5  # several bins across the narrow distribution
    assert np.ptp(narrow) < 0.1 * np.ptp(wide)
    assert [ax.get_xlabel() for ax in figure.axes[:5]] == [
        "firing rate (Hz)",
        "CV of inter-spike intervals",
        "Fano factor of spike counts",
        "spike-count correlation",
        "van Rossum distance",
    ]


def test_segment_raster_shades_epochs_with_a_legend():
    segment = neo.Segment(name="trial000")
    for i in range(3):
        segment.spiketrains.append(
            neo.SpikeTrain([10.0, 50.0 + i] * pq.ms, t_stop=100 * pq.ms, source_population="LIF" if i < 2 else "ALIF")
        )
    segment.epochs.append(
        neo.Epoch(
            [0.0, 40.0] * pq.ms,
            durations=[20.0, 20.0] * pq.ms,
            labels=np.array(["store:1", "recall:1"]),
            array_annotations={"kind": np.array(["store", "recall"]), "label": np.array(["1", "1"])},
        )
    )
    (ax,) = plots.segment_raster_figure(segment, "a trial").axes
    assert sorted(legend_texts(ax)) == [["LIF", "ALIF"], ["store", "recall"]]
    assert len(ax.patches) == 2 and ax.get_xlabel() == "time (ms)"
    assert plots.segment_raster(segment, "a trial")[:8] == b"\x89PNG\r\n\x1a\n"

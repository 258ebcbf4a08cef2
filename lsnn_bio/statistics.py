"""The spike-train statistics electrophysiologists compare, computed with Elephant.

A simulated network is believable next to a recording when the numbers people
look at first agree: firing rates, irregularity (CV of inter-spike intervals),
trial-to-trial variability (Fano factor), spike-count correlations and the
distance between trains (van Rossum). :func:`spike_statistics` computes them for
one Neo Block; :func:`compare` does it for a simulation and a recording and
writes ``statistics.json``, figures and a ``report.md`` side by side.

Conventions (what "pooled over segments" means here):

* A train is one neuron or unit followed across segments (trials), matched by
  ``channel_id`` (PyNN's layout), else by name, else by position; whichever is
  unique within every segment first. A train missing from a segment counts as
  silent there for correlations and is left out of that segment otherwise.
* Times are rescaled to ms (rates are in Hz) whatever units a file uses.
* Rate: spikes / recorded time, over all segments (Elephant's mean firing rate
  per segment, weighted by duration). Silent trains have rate 0 and count.
* CV of ISIs: intervals of all segments together (never across a segment
  boundary); NaN with fewer than two intervals.
* Fano factor of spike counts: across trials when there are two or more
  segments (each clipped to the span common to that train's segments), else
  across ``fano_window`` windows of the single segment; NaN for a silent train.
* Spike-count correlation: Pearson coefficients of counts in ``bin_size`` bins
  (Elephant's ``correlation_coefficient`` on a ``BinnedSpikeTrain``); each
  segment is clipped to the span all its trains share, cut to whole bins, and
  the segments are laid end to end, so bins never straddle two trials. Pairs
  with a silent train are NaN.
* van Rossum distance (time constant ``tau``): per segment, on the common span,
  over the first ``van_rossum_segments`` segments (the cost grows with trains
  squared times segments); summarised over all off-diagonal pairs.

NaN values are excluded from a summary's mean / sd / median and counted in its
``n_excluded``; in ``statistics.json`` they are written as ``null``.
"""
import io
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import quantities as pq

from .errors import LsnnBioError
from .neo_export import NeoFileError, read_block


class StatisticsError(LsnnBioError, ValueError):
    """Statistics asked for with values that cannot work (a negative bin size, say)."""


class NoSpikeTrainsError(StatisticsError):
    """A Neo file or Block without any spike train: nothing to compare."""


SIDES = ("simulated", "recording")


def spike_statistics(block, *, bin_size=20.0, tau=10.0, fano_window=100.0, van_rossum_segments=10, source=None):
    """Per-train and summary statistics of ``block``'s spike trains, as a JSON-ready dict.

    ``bin_size``, ``tau`` and ``fano_window`` are times (quantities, or floats in ms).
    ``source`` names the block in error messages (a file path, for example).
    """
    with warnings.catch_warnings():
        # Elephant 1.2 passes quantities' deprecated copy= argument on every call.
        warnings.filterwarnings("ignore", category=getattr(pq, "QuantitiesDeprecationWarning", DeprecationWarning))
        return _spike_statistics(block, bin_size, tau, fano_window, van_rossum_segments, source)


def _spike_statistics(block, bin_size, tau, fano_window, van_rossum_segments, source):
    bin_ms, tau_ms, window_ms = _ms(bin_size, "bin_size"), _ms(tau, "tau"), _ms(fano_window, "fano_window")
    segments = _segments_in_ms(block, source)
    keys, identities, matched_by = _match_trains(segments)
    n_segments = len(segments)

    trains = []
    for key in keys:
        items = [seg[key] for seg in identities if key in seg]
        first = items[0]
        trains.append({
            "key": key,
            "name": first.name,
            "source_population": first.annotations.get("source_population"),
            "n_segments": len(items),
            "spike_count": int(sum(len(t) for t in items)),
            "rate_hz": _rate(items),
            "cv_isi": _cv(items),
            "fano_factor": _fano(items, window_ms),
        })
    correlation = _correlation(identities, keys, bin_ms)
    van_rossum = _van_rossum(identities, keys, tau_ms, van_rossum_segments)
    spans = [_common_span(list(seg.values())) for seg in identities if seg]
    durations = [max(stop - start, 0.0) for start, stop in spans]
    rates = [t["rate_hz"] for t in trains]
    return {
        "n_segments": n_segments,
        "n_trains": len(keys),
        "matched_by": matched_by,
        "mean_segment_duration_s": float(np.mean(durations)) / 1e3 if durations else 0.0,
        "parameters": {"bin_size_ms": bin_ms, "tau_ms": tau_ms, "fano_window_ms": window_ms,
                       "van_rossum_segments": int(van_rossum_segments)},
        "rate_hz": {**_summary(rates), "n_silent": int(sum(1 for t in trains if t["spike_count"] == 0))},
        "cv_isi": _summary([t["cv_isi"] for t in trains]),
        "fano_factor": {**_summary([t["fano_factor"] for t in trains]),
                        "over": "trials" if n_segments >= 2 else f"{window_ms:g} ms windows"},
        "correlation": correlation,
        "van_rossum": van_rossum,
        "trains": trains,
    }


# ----------------------------------------------------------------------------- gathering


def _ms(value, name):
    try:
        if isinstance(value, pq.Quantity):
            result = float(value.rescale(pq.ms).magnitude)
        elif hasattr(value, "dim"):  # a Brian2 quantity
            import brian2

            result = float(value / brian2.ms)
        else:
            result = float(value)
    except (TypeError, ValueError, AttributeError) as error:
        raise StatisticsError(f"{name} must be a time (e.g. 20 * pq.ms, or a float in ms), got {value!r}: {error}") from None
    if not math.isfinite(result) or result <= 0:
        raise StatisticsError(f"{name} must be a positive time, got {value!r}")
    return result


def _segments_in_ms(block, source):
    where = source or f"block '{block.name}'"
    segments = [[train if train.dimensionality.string == "ms" else train.rescale(pq.ms) for train in segment.spiketrains]
                for segment in block.segments]
    if not any(segments):
        signals = sum(len(s.analogsignals) + len(s.irregularlysampledsignals) for s in block.segments)
        raise NoSpikeTrainsError(
            f"{where}: has no spike trains ({len(block.segments)} segments, {signals} signals); "
            "the statistics compare spike trains (SpikeTrain objects in the Block's segments)")
    return segments


def _match_trains(segments):
    """Follow each neuron across segments: by channel_id, else name, else position."""
    for by in ("channel_id", "name"):
        keyed = []
        for trains in segments:
            keys = [_key(train, by) for train in trains]
            if any(k is None for k in keys) or len(set(keys)) != len(keys):
                break
            keyed.append(dict(zip(keys, trains)))
        else:
            return list(dict.fromkeys(k for seg in keyed for k in seg)), keyed, by
    keyed = [{f"#{i}": train for i, train in enumerate(trains)} for trains in segments]
    return list(dict.fromkeys(k for seg in keyed for k in seg)), keyed, "position"


def _key(train, by):
    if by == "channel_id":
        value = train.annotations.get("channel_id")
        if isinstance(value, np.generic):
            value = value.item()
        return None if value is None else f"channel_id={value}"
    return train.name or None


def _common_span(trains):
    """(start, stop) in ms shared by all ``trains``; stop <= start when they do not overlap."""
    start = max(float(t.t_start.magnitude) for t in trains)
    stop = min(float(t.t_stop.magnitude) for t in trains)
    return start, stop


def _clip(train, start, stop):
    """The train's spikes in [start, stop), as a new train on that span (Elephant needs one span)."""
    import neo

    times = train.magnitude
    kept = times[(times >= start) & (times < stop)]
    return neo.SpikeTrain(kept, units=pq.ms, t_start=start, t_stop=stop)


# ----------------------------------------------------------------------------- per train


def _rate(items):
    """Elephant's mean rate of the train's segments laid end to end: all spikes / all recorded time."""
    import neo
    from elephant.statistics import mean_firing_rate

    pieces, offset = [], 0.0
    for train in items:
        start, stop = float(train.t_start.magnitude), float(train.t_stop.magnitude)
        pieces.append(np.clip(train.magnitude - start, 0.0, stop - start) + offset)
        offset += max(stop - start, 0.0)
    if offset <= 0:
        return math.nan
    pooled = neo.SpikeTrain(np.concatenate(pieces), units=pq.ms, t_start=0.0, t_stop=offset)
    return float(mean_firing_rate(pooled).rescale(pq.Hz).magnitude)


def _cv(items):
    from elephant.statistics import cv, isi

    intervals = [np.asarray(isi(t).magnitude) for t in items if len(t) >= 2]
    intervals = np.concatenate(intervals) if intervals else np.empty(0)
    if intervals.size < 2 or intervals.mean() <= 0:
        return math.nan
    return float(cv(intervals))


def _fano(items, window_ms):
    from elephant.statistics import fanofactor

    if len(items) >= 2:
        start, stop = _common_span(items)
        if stop <= start:
            return math.nan
        pieces = [_clip(t, start, stop) for t in items]
    else:
        (train,) = items
        start = float(train.t_start.magnitude)
        n = int((float(train.t_stop.magnitude) - start) // window_ms)
        if n < 2:
            return math.nan
        pieces = [_clip(train, start + k * window_ms, start + (k + 1) * window_ms) for k in range(n)]
    if sum(len(p) for p in pieces) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fanofactor(pieces))


# ----------------------------------------------------------------------------- pairs


def _correlation(identities, keys, bin_ms):
    """Spike-count correlations over all segments laid end to end, in whole bins."""
    import neo
    from elephant.conversion import BinnedSpikeTrain
    from elephant.spike_train_correlation import correlation_coefficient

    pieces = {key: [] for key in keys}
    offset = 0.0
    for seg in identities:
        if not seg:
            continue
        start, stop = _common_span(list(seg.values()))
        n_bins = int((stop - start) // bin_ms) if stop > start else 0
        if n_bins == 0:
            continue
        stop = start + n_bins * bin_ms
        length = n_bins * bin_ms
        for key in keys:
            if key in seg:
                times = seg[key].magnitude
                kept = times[(times >= start) & (times < stop)] - start
                pieces[key].append(np.minimum(kept, np.nextafter(length, 0)) + offset)
        offset += length
    result = {"bin_size_ms": bin_ms, "n_bins": int(round(offset / bin_ms)), "n_pairs": 0}
    if len(keys) < 2 or offset == 0:
        return {**_summary([]), **result, "n_excluded": 0}
    trains = [neo.SpikeTrain(np.sort(np.concatenate(pieces[key])) if pieces[key] else np.empty(0), units=pq.ms,
                             t_start=0.0, t_stop=offset) for key in keys]
    binned = BinnedSpikeTrain(trains, bin_size=bin_ms * pq.ms, t_start=0.0 * pq.ms, t_stop=offset * pq.ms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        matrix = np.asarray(correlation_coefficient(binned), dtype=np.float64)
    values = matrix[np.triu_indices(len(keys), k=1)]
    return {**_summary(values), **result, "n_pairs": int(values.size)}


def _van_rossum(identities, keys, tau_ms, max_segments):
    from elephant.spike_train_dissimilarity import van_rossum_distance

    values, used = [], 0
    for seg in identities[: max(int(max_segments), 0)]:
        if len(seg) < 2:
            continue
        start, stop = _common_span(list(seg.values()))
        if stop <= start:
            continue
        trains = [_clip(seg[key], start, stop) for key in keys if key in seg]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matrix = np.asarray(van_rossum_distance(trains, time_constant=tau_ms * pq.ms), dtype=np.float64)
        values.append(matrix[np.triu_indices(len(trains), k=1)])
        used += 1
    values = np.concatenate(values) if values else np.empty(0)
    return {**_summary(values), "tau_ms": tau_ms, "n_segments": used, "n_pairs": int(values.size)}


def _summary(values):
    values = np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"mean": math.nan, "std": math.nan, "median": math.nan, "min": math.nan, "max": math.nan,
                "n": 0, "n_excluded": int(values.size)}
    return {"mean": float(finite.mean()), "std": float(finite.std()), "median": float(np.median(finite)),
            "min": float(finite.min()), "max": float(finite.max()), "n": int(finite.size),
            "n_excluded": int(values.size - finite.size)}


# ----------------------------------------------------------------------------- comparison


def compare(simulated_path, recording_path, out_dir, *, bin_size=20.0, tau=10.0, fano_window=100.0,
            van_rossum_segments=10):
    """Statistics of a simulation beside a recording: ``statistics.json``, figures and ``report.md`` in ``out_dir``.

    Both files are read with Neo (by extension). Everything is computed and drawn
    before anything is written, so a file that cannot be compared leaves ``out_dir`` untouched.
    """
    paths = {"simulated": Path(simulated_path), "recording": Path(recording_path)}
    blocks = {side: read_block(path) for side, path in paths.items()}
    stats = {side: spike_statistics(blocks[side], bin_size=bin_size, tau=tau, fano_window=fano_window,
                                    van_rossum_segments=van_rossum_segments, source=str(paths[side]))
             for side in SIDES}
    document = {side: {"path": str(paths[side]), "block": blocks[side].name,
                       "annotations": _simple(blocks[side].annotations), "statistics": stats[side]}
                for side in SIDES}
    files = {
        "raster_simulated.png": _raster_png(blocks["simulated"], f"simulated: {paths['simulated'].name}"),
        "raster_recording.png": _raster_png(blocks["recording"], f"recording: {paths['recording'].name}"),
        "rates.png": _histogram_png(stats, "rate_hz", "firing rate (Hz)", "Firing rates per train"),
        "cv_isi.png": _histogram_png(stats, "cv_isi", "CV of inter-spike intervals", "Irregularity per train"),
    }
    files["statistics.json"] = (json.dumps(_json_ready(document), indent=1, allow_nan=False) + "\n").encode()
    files["report.md"] = _report(document, [name for name in files if name.endswith(".png")]).encode()

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NeoFileError(f"{out_dir}: cannot create the output folder: {error}") from error
    written = {}
    for name, content in files.items():
        written[name] = str(_write_atomically(out_dir / name, content))
    return {"simulated": stats["simulated"], "recording": stats["recording"], "files": written}


def _write_atomically(path, content):
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def _simple(annotations):
    return {str(k): v for k, v in annotations.items() if isinstance(v, (str, int, float, bool))}


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)  # Agg, without touching pyplot's global backend
    return figure


def _png(figure):
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _raster_png(block, title):
    from matplotlib.ticker import MaxNLocator

    segment = next(s for s in block.segments if len(s.spiketrains))
    figure = _figure(9, 4.5)
    ax = figure.add_subplot(1, 1, 1)
    populations = list(dict.fromkeys(t.annotations.get("source_population") for t in segment.spiketrains))
    colour = {p: f"C{i % 10}" for i, p in enumerate(populations)}
    size = float(np.clip(3000.0 / len(segment.spiketrains), 4.0, 60.0))
    for row, train in enumerate(segment.spiketrains):
        times = train.rescale(pq.ms).magnitude
        ax.scatter(times, np.full(times.shape, row), s=size, marker="|", linewidths=1,
                   color=colour[train.annotations.get("source_population")])
    for epoch in segment.epochs:
        for start, duration in zip(epoch.rescale(pq.ms).magnitude, epoch.durations.rescale(pq.ms).magnitude):
            ax.axvspan(start, start + duration, color="0.93", zorder=0)
    if len(populations) > 1 or populations[0] is not None:
        for p in populations:
            ax.scatter([], [], marker="|", color=colour[p], label=str(p))
        ax.legend(loc="upper right", fontsize=8)
    start = min(float(t.t_start.rescale(pq.ms).magnitude) for t in segment.spiketrains)
    stop = max(float(t.t_stop.rescale(pq.ms).magnitude) for t in segment.spiketrains)
    ax.set_xlim(start, stop)
    ax.set_ylim(-0.5, len(segment.spiketrains) - 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("spike train")
    ax.set_title(f"{title} ({segment.name or 'first segment'})")
    return _png(figure)


def _histogram_png(stats, quantity, label, title):
    figure = _figure(6, 4)
    ax = figure.add_subplot(1, 1, 1)
    data = {side: np.array([t[quantity] for t in stats[side]["trains"]], dtype=np.float64) for side in SIDES}
    data = {side: values[np.isfinite(values)] for side, values in data.items()}
    pooled = np.concatenate(list(data.values()))
    if pooled.size:
        low, high = float(pooled.min()), float(pooled.max())
        edges = np.linspace(low, high if high > low else low + 1.0, 21)
        for i, side in enumerate(SIDES):
            if data[side].size:
                weights = np.full(data[side].size, 1.0 / data[side].size)
                ax.hist(data[side], bins=edges, weights=weights, alpha=0.5, color=f"C{i}",
                        label=f"{side} (n = {data[side].size})")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no finite values on either side", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(label)
    ax.set_ylabel("fraction of trains")
    ax.set_title(title)
    return _png(figure)


def _fmt(value, digits=3):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def _mean_sd(summary):
    if summary["n"] == 0:
        return "n/a"
    return f"{_fmt(summary['mean'])} ± {_fmt(summary['std'])}"


def _report(document, figures):
    s, r = document["simulated"], document["recording"]
    a, b = s["statistics"], r["statistics"]
    rows = [
        ("spike trains", a["n_trains"], b["n_trains"]),
        ("segments (trials)", a["n_segments"], b["n_segments"]),
        ("mean segment duration (s)", _fmt(a["mean_segment_duration_s"]), _fmt(b["mean_segment_duration_s"])),
        ("firing rate, mean ± sd (Hz)", _mean_sd(a["rate_hz"]), _mean_sd(b["rate_hz"])),
        ("firing rate, median (Hz)", _fmt(a["rate_hz"]["median"]), _fmt(b["rate_hz"]["median"])),
        ("silent trains", a["rate_hz"]["n_silent"], b["rate_hz"]["n_silent"]),
        ("CV of ISIs, mean ± sd", _mean_sd(a["cv_isi"]), _mean_sd(b["cv_isi"])),
        ("trains without a CV (< 2 intervals)", a["cv_isi"]["n_excluded"], b["cv_isi"]["n_excluded"]),
        ("Fano factor, mean ± sd", _mean_sd(a["fano_factor"]), _mean_sd(b["fano_factor"])),
        ("Fano factor over", a["fano_factor"]["over"], b["fano_factor"]["over"]),
        (f"spike-count correlation ({_fmt(a['correlation']['bin_size_ms'])} ms bins), mean ± sd",
         _mean_sd(a["correlation"]), _mean_sd(b["correlation"])),
        ("pairs without a correlation (a silent train)", a["correlation"]["n_excluded"],
         b["correlation"]["n_excluded"]),
        (f"van Rossum distance (tau = {_fmt(a['van_rossum']['tau_ms'])} ms), mean ± sd",
         _mean_sd(a["van_rossum"]), _mean_sd(b["van_rossum"])),
    ]
    lines = [
        "# Simulated activity vs recording",
        "",
        f"- simulated: `{s['path']}` (block `{s['block']}`"
        + (f", simulator {s['annotations']['simulator']}" if "simulator" in s["annotations"] else "") + ")",
        f"- recording: `{r['path']}` (block `{r['block']}`)",
        "",
        "| quantity | simulated | recording |",
        "|---|---|---|",
        *[f"| {q} | {x} | {y} |" for q, x, y in rows],
        "",
        "Trains are followed across segments by "
        f"{a['matched_by']} (simulated) and {b['matched_by']} (recording). Rates count every train; CV, Fano "
        "factor and correlations leave out trains or pairs where they are undefined (counted above). "
        "All numbers are in `statistics.json`.",
        "",
        "## Figures",
        "",
        *[f"![{name[:-4]}]({name})" for name in figures],
        "",
    ]
    return "\n".join(lines)

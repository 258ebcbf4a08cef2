"""The spike-train statistics electrophysiologists compare, computed with Elephant from Neo objects.

A simulated network is believable next to a recording when the numbers people look at first
agree: firing rates, irregularity (CV of inter-spike intervals), trial-to-trial variability
(Fano factor), spike-count correlations and the distance between trains (van Rossum).
:func:`spike_statistics` computes them for one Neo Block; :func:`plausibility` says what in
them looks like a broken file rather than a brain. Times given as plain numbers are SI seconds.

Conventions (what "pooled over segments" means here):

* A train is one neuron or unit followed across segments (trials), matched by ``channel_id``
  (PyNN's layout), else by name, else by position (:func:`lsnn_bio.neo.follow_trains`). A
  train missing from a segment counts as silent there for correlations and is left out of
  that segment otherwise.
* Parameters are seconds; spike times are handled in ms whatever units a file uses (rates
  in Hz), so times on a simulator's 0.1 or 1 ms grid fall on bin edges exactly.
* Rate: spikes / recorded time, over all segments (Elephant's mean firing rate of the
  segments laid end to end). Silent trains have rate 0 and count.
* CV of ISIs: intervals of all segments together (never across a segment boundary); NaN
  with fewer than two intervals.
* Fano factor of spike counts (variance / mean): across trials when there are two or more
  segments (each clipped to the span common to that train's segments; Elephant's
  ``fanofactor``), else across the whole ``fano_window`` windows of the single segment;
  NaN for a silent train.
* Spike-count correlation: Pearson coefficients of counts in ``bin_size`` bins (Elephant's
  ``correlation_coefficient`` on a ``BinnedSpikeTrain``); each segment is clipped to the span
  all its trains share, cut to whole bins, and the segments are laid end to end, so bins
  never straddle two trials. Pairs with a silent train are NaN.
* van Rossum distance (time constant ``tau``): per segment, on the common span, over the
  first ``van_rossum_segments`` segments (the cost grows with trains squared times
  segments); summarised over all off-diagonal pairs.

NaN values are excluded from a summary's mean / sd / median and counted in its ``n_excluded``.
"""

import math
import warnings

import numpy as np
import quantities as pq

from .errors import LsnnBioError
from .neo import follow_trains
from .units import seconds


class StatisticsError(LsnnBioError, ValueError):
    """Statistics asked for with values that cannot work (a negative bin size, say)."""


class NoSpikeTrainsError(StatisticsError):
    """A Neo file or Block without any spike train: nothing to compare."""


# Beyond these a recording is more likely a unit mix-up than a brain (see plausibility()).
MAX_MEAN_RATE_HZ, MIN_MEAN_RATE_HZ = 300.0, 0.05
MAX_TRAIN_RATE_HZ = 1000.0  # faster than a 1 ms refractory period allows
MIN_SEGMENT_S, MAX_SEGMENT_S = 0.05, 86400.0


def spike_statistics(block, *, bin_size=0.02, tau=0.01, fano_window=0.1, van_rossum_segments=10, source=None):
    """Per-train and summary statistics of ``block``'s spike trains, as a JSON-ready dict.

    ``bin_size``, ``tau`` and ``fano_window`` are times: quantities, or numbers in seconds.
    ``source`` names the block in error messages (a file path, for example).
    """
    return statistics_and_pairs(
        block,
        bin_size=bin_size,
        tau=tau,
        fano_window=fano_window,
        van_rossum_segments=van_rossum_segments,
        source=source,
    )[0]


def statistics_and_pairs(block, *, bin_size=0.02, tau=0.01, fano_window=0.1, van_rossum_segments=10, source=None):
    """:func:`spike_statistics` and the per-pair values behind its summaries (for figures).

    The pairs are ``{"correlation": array, "van_rossum": array}``, one value per pair of trains
    (per segment for van Rossum), NaN where undefined.
    """
    try:
        bin_s, tau_s, window_s = seconds(bin_size, "bin_size"), seconds(tau, "tau"), seconds(fano_window, "fano_window")
    except ValueError as error:
        raise StatisticsError(str(error)) from None
    with warnings.catch_warnings():
        # Elephant 1.2 passes quantities' deprecated copy= argument on every call.
        warnings.filterwarnings("ignore", category=getattr(pq, "QuantitiesDeprecationWarning", DeprecationWarning))
        stats, pairs = _statistics(block, _ms(bin_s), _ms(tau_s), _ms(window_s), van_rossum_segments, source)
    stats["parameters"] = {
        "bin_size_s": bin_s,
        "tau_s": tau_s,
        "fano_window_s": window_s,
        "van_rossum_segments": int(van_rossum_segments),
    }
    stats["correlation"]["bin_size_s"], stats["van_rossum"]["tau_s"] = bin_s, tau_s
    return stats, pairs


def _ms(value_s):
    """Seconds -> ms, rounded to 1e-9 ms so that 0.02 s is 20 ms exactly."""
    return float(np.round(value_s * 1e3, 9))


def _statistics(block, bin_ms, tau_ms, window_ms, van_rossum_segments, source):
    segments = _segments_in_ms(block, source)
    keys, identities, matched_by = follow_trains(segments)
    n_segments = len(segments)

    trains = []
    for key in keys:
        items = [seg[key] for seg in identities if key in seg]
        first = items[0]
        trains.append(
            {
                "key": key,
                "name": first.name,
                "source_population": first.annotations.get("source_population"),
                "n_segments": len(items),
                "spike_count": int(sum(len(t) for t in items)),
                "rate_hz": _rate(items),
                "cv_isi": _cv(items),
                "fano_factor": _fano(items, window_ms),
            }
        )
    correlation, correlations = _correlation(identities, keys, bin_ms)
    van_rossum, distances = _van_rossum(identities, keys, tau_ms, van_rossum_segments)
    spans = [_common_span(list(seg.values())) for seg in identities if seg]
    durations = [max(stop - start, 0.0) for start, stop in spans]
    rates = [t["rate_hz"] for t in trains]
    stats = {
        "n_segments": n_segments,
        "n_trains": len(keys),
        "n_spikes": int(sum(t["spike_count"] for t in trains)),
        "matched_by": matched_by,
        "mean_segment_duration_s": float(np.mean(durations)) / 1e3 if durations else 0.0,
        "segment_durations_s": {
            "min": float(min(durations)) / 1e3 if durations else 0.0,
            "max": float(max(durations)) / 1e3 if durations else 0.0,
        },
        "parameters": {},
        "rate_hz": {**_summary(rates), "n_silent": int(sum(1 for t in trains if t["spike_count"] == 0))},
        "cv_isi": _summary([t["cv_isi"] for t in trains]),
        "fano_factor": {
            **_summary([t["fano_factor"] for t in trains]),
            "over": "trials" if n_segments >= 2 else f"{window_ms:g} ms windows",
        },
        "correlation": correlation,
        "van_rossum": van_rossum,
        "trains": trains,
    }
    return stats, {"correlation": correlations, "van_rossum": distances}


def plausibility(stats):
    """Warnings, one line each, about numbers that suggest a broken file rather than a brain.

    Mean rates above a few hundred Hz or below one spike in 20 s, and segments shorter than
    50 ms or longer than a day, usually mean the spike times are not in the units the file
    claims (milliseconds stored as microseconds, say); trains that never spike leave most
    statistics undefined.
    """
    found = []
    rate = stats["rate_hz"]
    if rate["n"] and rate["mean"] > MAX_MEAN_RATE_HZ:
        found.append(
            f"mean firing rate {rate['mean']:.3g} Hz is above a few hundred Hz: are the spike times in "
            "the units the file says (e.g. milliseconds stored as microseconds)?"
        )
    if rate["n"] and stats["n_spikes"] and rate["mean"] < MIN_MEAN_RATE_HZ:
        found.append(
            f"mean firing rate {rate['mean']:.3g} Hz is below one spike in 20 s: are the spike times in "
            "the units the file says (e.g. milliseconds stored as seconds)?"
        )
    fastest = max(stats["trains"], key=lambda t: t["rate_hz"] if math.isfinite(t["rate_hz"]) else -1.0, default=None)
    if fastest is not None and fastest["rate_hz"] > MAX_TRAIN_RATE_HZ:
        found.append(
            f"train {fastest['name'] or fastest['key']} fires at {fastest['rate_hz']:.3g} Hz, faster than "
            "a refractory period allows: check the time units"
        )
    durations = stats["segment_durations_s"]
    if stats["n_segments"] and durations["min"] < MIN_SEGMENT_S:
        found.append(
            f"the shortest segment lasts {durations['min'] * 1e3:.3g} ms: a trial that short suggests a "
            "time-unit mix-up (or t_start/t_stop not set)"
        )
    if stats["n_segments"] and durations["max"] > MAX_SEGMENT_S:
        found.append(
            f"the longest segment lasts {durations['max'] / 3600:.3g} hours: more than a day suggests a "
            "time-unit mix-up"
        )
    if stats["n_trains"] and stats["n_spikes"] == 0:
        found.append(
            f"all {stats['n_trains']} spike trains are empty: rates are 0 and CV, Fano factor and "
            "correlations are undefined"
        )
    elif stats["n_trains"] and rate["n_silent"] * 2 > stats["n_trains"]:
        found.append(
            f"{rate['n_silent']} of {stats['n_trains']} spike trains never spike: most statistics "
            "describe the few that do"
        )
    return found


# ----------------------------------------------------------------------------- gathering


def _segments_in_ms(block, source):
    where = source or f"block '{block.name}'"
    segments = [
        [train if train.dimensionality.string == "ms" else train.rescale(pq.ms) for train in segment.spiketrains]
        for segment in block.segments
    ]
    if not any(segments):
        signals = sum(len(s.analogsignals) + len(s.irregularlysampledsignals) for s in block.segments)
        raise NoSpikeTrainsError(
            f"{where}: has no spike trains ({len(block.segments)} segments, {signals} signals); "
            "the statistics compare spike trains (SpikeTrain objects in the Block's segments)"
        )
    return segments


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
    else:  # windows of one segment: counted directly, as a long recording may hold millions of them
        (train,) = items
        start = float(train.t_start.magnitude)
        n = _whole(float(train.t_stop.magnitude) - start, window_ms)
        if n < 2:
            return math.nan
        counts = np.histogram(train.magnitude, bins=start + np.arange(n + 1) * window_ms)[0]
        return float(counts.var() / counts.mean()) if counts.any() else math.nan
    if sum(len(p) for p in pieces) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fanofactor(pieces))


# ----------------------------------------------------------------------------- pairs


def _whole(length, unit):
    """How many whole ``unit`` fit in ``length``, forgiving float error (2.0 // 0.02 == 99 in floats)."""
    return int(math.floor(length / unit + 1e-9)) if length > 0 else 0


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
        n_bins = _whole(stop - start, bin_ms)
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
    result = {"bin_size_s": bin_ms / 1e3, "n_bins": int(round(offset / bin_ms)), "n_pairs": 0}
    if len(keys) < 2 or offset == 0:
        return {**_summary([]), **result, "n_excluded": 0}, np.empty(0)
    trains = [
        neo.SpikeTrain(
            np.sort(np.concatenate(pieces[key])) if pieces[key] else np.empty(0),
            units=pq.ms,
            t_start=0.0,
            t_stop=offset,
        )
        for key in keys
    ]
    binned = BinnedSpikeTrain(trains, bin_size=bin_ms * pq.ms, t_start=0.0 * pq.ms, t_stop=offset * pq.ms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        matrix = np.asarray(correlation_coefficient(binned, fast=False), dtype=np.float64)  # sparse: long files fit
    values = matrix[np.triu_indices(len(keys), k=1)]
    return {**_summary(values), **result, "n_pairs": int(values.size)}, values


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
    return {**_summary(values), "tau_s": tau_ms / 1e3, "n_segments": used, "n_pairs": int(values.size)}, values


def _summary(values):
    values = np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {
            "mean": math.nan,
            "std": math.nan,
            "median": math.nan,
            "min": math.nan,
            "max": math.nan,
            "n": 0,
            "n_excluded": int(values.size),
        }
    return {
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "median": float(np.median(finite)),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "n": int(finite.size),
        "n_excluded": int(values.size - finite.size),
    }

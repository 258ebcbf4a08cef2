"""A Neo Block as a native NWB file, so pynwb, DANDI tools and plain Neo read it without lsnn-bio.

(Longer than 400 lines on purpose: the writer and the reader share one table layout, described
below, and stay in one file so the two cannot drift apart.)

NWB has one session clock, so trials (Neo segments) are laid end to end on it: a trial whose
own clock starts where an earlier one ended keeps its times, one that starts at 0 (as every
simulated trial does) is shifted to begin where the previous trial stopped. Then:

* ``trials`` table: one row per segment, ``start_time``/``stop_time`` on the session clock,
  ``segment_name``.
* ``units`` table: one row per neuron, followed across trials (see
  :func:`lsnn_bio.neo.layout.follow_trains`), ``spike_times`` in seconds on the session clock,
  ``obs_intervals`` = the trials it was recorded in (one interval when they are contiguous),
  columns ``population``, ``neuron_index`` (index in the population, -1 unknown),
  ``channel_id`` (-1 unknown), ``unit_name`` and, where the trains have them,
  ``neuron_type`` and ``sign``.
* ``acquisition``: a ``TimeSeries`` per recorded variable and population (``ALIF.v``), all
  trials in one series, one column per neuron (column = ``neuron_index``), ``unit`` in SI
  (``volts``) with the ``conversion`` of the stored values (1e-3 for mV). A signal that does
  not cover every trial exactly gets one series per trial (``'v trial003'``).
* ``epochs`` table: Neo Epochs, ``tags`` = [label], column ``trial`` (row of ``trials``).
* ``events``: one ``EventsTable`` per Neo Event name, columns ``label`` and ``trial``.

What NWB has no place for (Neo annotations and array annotations, object names, Groups,
original units) is kept by :mod:`lsnn_bio.neo.repair` in the scratch entry
``lsnn_bio_layout``, together with where each segment's objects lie; :func:`read` uses it to
give back the block as written (times equal to float precision after the trip through seconds).
"""

import json
import uuid
from datetime import UTC, datetime

import numpy as np
import quantities as pq

from . import repair
from .layout import follow_trains

SCRATCH = "lsnn_bio_layout"
FORMAT, VERSION = "lsnn_bio.nwb", 1
_SI = (
    ("V", "volts"),
    ("A", "amperes"),
    ("S", "siemens"),
    ("F", "farads"),
    ("ohm", "ohms"),
    ("s", "seconds"),
    ("Hz", "hertz"),
)
_PREFIXES = {1e-12: "p", 1e-9: "n", 1e-6: "u", 1e-3: "m", 1.0: "", 1e3: "k", 1e6: "M", 1e9: "G"}


def write(block, path):
    """Write ``block`` to ``path`` as NWB (pynwb); the caller makes the write atomic."""
    from pynwb import NWBHDF5IO, NWBFile

    stamp = block.rec_datetime or datetime.now(UTC).replace(microsecond=0)
    nwbfile = NWBFile(
        session_description=block.description or block.name or "Neo block",
        identifier=str(uuid.uuid4()),
        session_start_time=stamp if stamp.tzinfo else stamp.astimezone(),
        session_id=block.name,
    )
    offsets, trials = _lay_out_trials(block, nwbfile)
    locations = [{"offset": offset} for offset in offsets]
    unit_rows = _write_units(block, nwbfile, offsets, locations)
    _write_signals(block, nwbfile, offsets, trials, locations)
    _write_events(block, nwbfile, offsets, locations)
    _write_epochs(block, nwbfile, offsets, locations)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "layout": repair.describe(block),
        "segments": locations,
        "unit_rows": unit_rows,
    }
    nwbfile.add_scratch(
        json.dumps(meta),
        name=SCRATCH,
        description="lsnn-bio: the Neo layout (names, annotations, Groups) and where each Neo "
        "segment's objects lie in this file; the data are in the NWB tables",
    )
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def read(path):
    """The Block :func:`write` wrote, or None for an NWB file lsnn-bio did not write."""
    import neo
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        meta = _meta(nwbfile)
        if meta is None:
            return None
        layout = meta["layout"]
        trials = nwbfile.trials
        starts = np.asarray(trials["start_time"][:], dtype=np.float64) if trials is not None else np.empty(0)
        stops = np.asarray(trials["stop_time"][:], dtype=np.float64) if trials is not None else np.empty(0)
        spikes = _unit_spikes(nwbfile)
        used = [0] * len(spikes)  # each unit's spikes are stored trial after trial: take them in turn
        block = neo.Block()
        for s, (where, tables) in enumerate(zip(meta["segments"], repair.segment_tables(layout))):
            segment = neo.Segment()
            offset, start, stop = where["offset"], starts[s], stops[s]
            rows = meta["unit_rows"][where["spiketrains"]] if "spiketrains" in where else []
            for row, count in zip(rows, where.get("spike_counts", [])):
                kept = spikes[row][used[row] : used[row] + count]
                used[row] += count
                segment.spiketrains.append(
                    neo.SpikeTrain(
                        (kept - offset) * pq.s, t_start=(start - offset) * pq.s, t_stop=(stop - offset) * pq.s
                    )
                )
            for name, first, n in where.get("signals", []):
                segment.analogsignals.append(_signal(nwbfile.acquisition[name], first, n, offset))
            for name, first, n in where.get("irregular", []):
                segment.irregularlysampledsignals.append(_irregular(nwbfile.acquisition[name], first, n, offset))
            for name, first, n in where.get("events", []):
                table = nwbfile.get_events_table(name)
                times = np.asarray(table["timestamp"][first : first + n], dtype=np.float64) - offset
                segment.events.append(neo.Event(times * pq.s, labels=np.array(table["label"][first : first + n], str)))
            for first, n in where.get("epochs", []):
                epochs = nwbfile.epochs
                begin = np.asarray(epochs["start_time"][first : first + n], dtype=np.float64)
                end = np.asarray(epochs["stop_time"][first : first + n], dtype=np.float64)
                labels = [tags[0] if len(tags) else "" for tags in epochs["tags"][first : first + n]]
                segment.epochs.append(
                    neo.Epoch(
                        (begin - offset) * pq.s, durations=(end - begin) * pq.s, labels=np.array(labels, dtype=str)
                    )
                )
            if len(tables.get("spiketrains", [])) != len(segment.spiketrains):
                raise ValueError(
                    f"segment {s}: the layout lists {len(tables.get('spiketrains', []))} spike trains, "
                    f"the units table gives {len(segment.spiketrains)}"
                )
            block.segments.append(segment)
    block.create_relationship()
    repair.restore(block, layout)
    return block


# ----------------------------------------------------------------------------- writing


def _lay_out_trials(block, nwbfile):
    """Each segment's offset onto the session clock, and its (start, stop) there."""
    nwbfile.add_trial_column("segment_name", "the Neo Segment this trial was written from")
    offsets, trials, end = [], [], None
    for segment in block.segments:
        start, stop = _span(segment)
        offset = 0.0 if end is None or start >= end else end - start
        nwbfile.add_trial(start_time=start + offset, stop_time=stop + offset, segment_name=str(segment.name or ""))
        offsets.append(offset)
        trials.append((start + offset, stop + offset))
        end = stop + offset
    return offsets, trials


def _span(segment):
    """(start, stop) in seconds of everything in the segment; (0, 0) when it is empty."""
    starts, stops = [], []
    for obj in segment.spiketrains:
        starts.append(_s(obj.t_start))
        stops.append(_s(obj.t_stop))
    for obj in list(segment.analogsignals) + list(segment.irregularlysampledsignals):
        starts.append(_s(obj.t_start))
        stops.append(_s(obj.t_stop))
    for obj in list(segment.events) + list(segment.epochs):
        if len(obj):
            times = obj.times.rescale("s").magnitude
            starts.append(float(times.min()))
            ends = times + (obj.durations.rescale("s").magnitude if hasattr(obj, "durations") else 0.0)
            stops.append(float(ends.max()))
    return (min(starts), max(stops)) if starts else (0.0, 0.0)


def _write_units(block, nwbfile, offsets, locations):
    keys, keyed, _ = follow_trains([list(segment.spiketrains) for segment in block.segments])
    if not keys:
        return []
    firsts = [next(seg[key] for seg in keyed if key in seg) for key in keys]
    optional = [name for name in ("neuron_type", "sign") if any(name in t.annotations for t in firsts)]
    for name, description in (
        ("population", "the population (Neo source_population) of this neuron"),
        ("neuron_index", "index of the neuron in its population (Neo source_index; -1 unknown)"),
        ("channel_id", "running neuron id over all populations (Neo channel_id; -1 unknown)"),
        ("unit_name", "the Neo SpikeTrain name"),
        ("neuron_type", "the neuron model"),
        ("sign", "+1 excitatory, -1 inhibitory (Dale's law), 0 unconstrained"),
    ):
        if name in optional or name not in ("neuron_type", "sign"):
            nwbfile.add_unit_column(name, description)
    for key, first in zip(keys, firsts):
        times, intervals = [], []
        for seg, offset in zip(keyed, offsets):
            if key in seg:
                train = seg[key]
                times.append(np.sort(train.rescale("s").magnitude) + offset)
                interval = [_s(train.t_start) + offset, _s(train.t_stop) + offset]
                if intervals and abs(intervals[-1][1] - interval[0]) <= 1e-9 * max(1.0, abs(interval[0])):
                    intervals[-1][1] = interval[1]
                else:
                    intervals.append(interval)
        columns = {
            "population": str(first.annotations.get("source_population", "")),
            "neuron_index": _int(first.annotations.get("source_index")),
            "channel_id": _int(first.annotations.get("channel_id")),
            "unit_name": str(first.name or ""),
        }
        if "neuron_type" in optional:
            columns["neuron_type"] = str(first.annotations.get("neuron_type", ""))
        if "sign" in optional:
            columns["sign"] = _int(first.annotations.get("sign"), 0)
        nwbfile.add_unit(spike_times=np.concatenate(times), obs_intervals=intervals, **columns)
    rows = {key: row for row, key in enumerate(keys)}
    tables = []  # each segment's unit rows in train order, shared by segments alike
    for seg, where in zip(keyed, locations):
        order = [rows[key] for key in seg]
        where["spike_counts"] = [len(train) for train in seg.values()]  # exact even for a spike at a trial's end
        if order:
            if order not in tables:
                tables.append(order)
            where["spiketrains"] = tables.index(order)
    return tables


def _write_signals(block, nwbfile, offsets, trials, locations):
    from pynwb import TimeSeries

    names = set()

    def unique(name):
        name = name.replace("/", "|")
        candidate, n = name, 1
        while candidate in names:
            n += 1
            candidate = f"{name} {n}"
        names.add(candidate)
        return candidate

    def key(signal):
        population = signal.annotations.get("source_population")
        return f"{population}.{signal.name}" if population else str(signal.name or "signal")

    def series(name, signal, description, **timing):
        unit, conversion = _nwb_unit(signal.units)
        population = signal.annotations.get("source_population")
        about = f"{signal.name}" + (f" of population {population}" if population else "")
        nwbfile.add_acquisition(
            TimeSeries(name=name, unit=unit, conversion=conversion, description=f"{about}; {description}", **timing)
        )

    segments = list(block.segments)
    joined = {}  # key -> per segment [series name, first sample, samples]
    for k in dict.fromkeys(key(s) for segment in segments for s in segment.analogsignals):
        found = [[s for s in segment.analogsignals if key(s) == k] for segment in segments]
        if all(len(f) == 1 for f in found) and _joins([f[0] for f in found], trials, offsets):
            signals = [f[0] for f in found]
            name = unique(k)
            series(
                name,
                signals[0],
                "one column per neuron (column = neuron_index), all trials as in the trials table",
                data=np.concatenate([s.magnitude for s in signals]),
                rate=_rate(signals[0]),
                starting_time=_s(signals[0].t_start) + offsets[0],
            )
            firsts = np.cumsum([0] + [len(s) for s in signals])
            joined[k] = [[name, int(first), len(s)] for first, s in zip(firsts, signals)]
    for s, (segment, offset, where) in enumerate(zip(segments, offsets, locations)):
        for signal in segment.analogsignals:
            if key(signal) in joined:
                where.setdefault("signals", []).append(joined[key(signal)][s])
                continue
            name = unique(f"{key(signal)} {segment.name or f'segment{s}'}")
            series(
                name,
                signal,
                f"trial {s}",
                data=signal.magnitude,
                rate=_rate(signal),
                starting_time=_s(signal.t_start) + offset,
            )
            where.setdefault("signals", []).append([name, 0, len(signal)])
        for signal in segment.irregularlysampledsignals:
            name = unique(f"{key(signal)} {segment.name or f'segment{s}'}")
            series(
                name,
                signal,
                f"trial {s}, irregularly sampled",
                data=signal.magnitude,
                timestamps=signal.times.rescale("s").magnitude + offset,
            )
            where.setdefault("irregular", []).append([name, 0, len(signal)])


def _rate(signal):
    return float(signal.sampling_rate.rescale("Hz").magnitude)


def _joins(signals, trials, offsets):
    """True when the signals (one per segment) cover each trial exactly, with one sampling period and unit."""
    first = signals[0]
    for signal, (start, stop), offset in zip(signals, trials, offsets):
        if not (
            signal.units == first.units
            and signal.shape[1:] == first.shape[1:]
            and np.isclose(_s(signal.sampling_period), _s(first.sampling_period), rtol=1e-12, atol=0)
        ):
            return False
        if not (
            np.isclose(_s(signal.t_start) + offset, start, rtol=0, atol=1e-9)
            and np.isclose(_s(signal.t_stop) + offset, stop, rtol=0, atol=1e-9)
        ):
            return False
    return True


def _write_events(block, nwbfile, offsets, locations):
    from pynwb.event import EventsTable

    tables = {}
    for s, (segment, offset, where) in enumerate(zip(block.segments, offsets, locations)):
        for event in segment.events:
            name = str(event.name or "events").replace("/", "|")
            if name not in tables:
                tables[name] = EventsTable(name=name, description=f"Neo Event '{event.name}', all trials")
                tables[name].add_column("label", "the event's label")
                tables[name].add_column("trial", "row of the trials table")
            table = tables[name]
            first = len(table)
            for time, label in zip(event.times.rescale("s").magnitude + offset, event.labels):
                table.add_row(timestamp=float(time), label=str(label), trial=s)
            where.setdefault("events", []).append([name, first, len(event)])
    for table in tables.values():
        nwbfile.add_events_table(table)


def _write_epochs(block, nwbfile, offsets, locations):
    if not any(segment.epochs for segment in block.segments):
        return
    nwbfile.add_epoch_column("trial", "row of the trials table")
    row = 0
    for s, (segment, offset, where) in enumerate(zip(block.segments, offsets, locations)):
        for epoch in segment.epochs:
            starts = epoch.times.rescale("s").magnitude + offset
            stops = starts + epoch.durations.rescale("s").magnitude
            for start, stop, label in zip(starts, stops, epoch.labels):
                nwbfile.add_epoch(start_time=float(start), stop_time=float(stop), tags=[str(label)], trial=s)
            where.setdefault("epochs", []).append([row, len(epoch)])
            row += len(epoch)


def _nwb_unit(units):
    """Neo units -> (NWB unit in SI, conversion from stored values): mV -> ('volts', 1e-3)."""
    if units.dimensionality.string == "dimensionless":
        return "dimensionless", 1.0
    one = pq.Quantity(1.0, units)
    for symbol, name in _SI:
        try:
            return name, float(one.rescale(symbol).magnitude)
        except ValueError:
            continue
    return units.dimensionality.string, 1.0


# ----------------------------------------------------------------------------- reading


def _meta(nwbfile):
    try:
        text = nwbfile.get_scratch(SCRATCH)
    except (KeyError, ValueError, AttributeError):
        return None
    try:
        meta = json.loads(text if isinstance(text, str) else np.asarray(text).item())
    except (TypeError, ValueError):
        return None
    if not (isinstance(meta, dict) and meta.get("format") == FORMAT and meta.get("version") == VERSION):
        return None
    return meta


def _unit_spikes(nwbfile):
    units = nwbfile.units
    if units is None or len(units) == 0:
        return []
    data = np.asarray(units["spike_times"].target.data[:], dtype=np.float64)
    ends = np.asarray(units["spike_times"].data[:], dtype=np.int64)
    return np.split(data, ends[:-1])


def _neo_units(unit, conversion):
    """NWB (unit, conversion) -> (Neo units, factor for the stored values)."""
    if unit == "dimensionless":
        return pq.dimensionless, conversion
    symbol = next((s for s, name in _SI if name == unit), None)
    if symbol is None:
        return pq.Quantity(1.0, unit).units, conversion
    prefix = next((p for factor, p in _PREFIXES.items() if np.isclose(conversion, factor, rtol=1e-9, atol=0)), None)
    if prefix is None:
        return pq.Quantity(1.0, symbol).units, conversion
    try:  # quantities spells the prefixed ohm 'MOhm'
        return pq.Quantity(1.0, prefix + ("Ohm" if symbol == "ohm" else symbol)).units, 1.0
    except (LookupError, ValueError):
        return pq.Quantity(1.0, symbol).units, conversion


def _signal(timeseries, first, n, offset):
    import neo

    units, factor = _neo_units(timeseries.unit, timeseries.conversion)
    rate = float(timeseries.rate)
    data = np.asarray(timeseries.data[first : first + n], dtype=np.float64)
    return neo.AnalogSignal(
        data * factor if factor != 1.0 else data,
        units=units,
        sampling_rate=rate * pq.Hz,
        t_start=(float(timeseries.starting_time) + first / rate - offset) * pq.s,
    )


def _irregular(timeseries, first, n, offset):
    import neo

    units, factor = _neo_units(timeseries.unit, timeseries.conversion)
    data = np.asarray(timeseries.data[first : first + n], dtype=np.float64)
    times = np.asarray(timeseries.timestamps[first : first + n], dtype=np.float64) - offset
    return neo.IrregularlySampledSignal(times * pq.s, data * factor if factor != 1.0 else data, units=units)


def _s(quantity):
    return float(quantity.rescale("s").magnitude)


def _int(value, default=-1):
    if isinstance(value, np.generic):
        value = value.item()
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default

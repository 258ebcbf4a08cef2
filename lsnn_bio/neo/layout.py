"""Simulator results -> one Neo Block in PyNN's layout, built once.

Electrophysiologists read Neo, and PyNN defines how simulator output looks in it
(``reference/peers.md`` section 5), so a simulated network reads like a recording:

* **Block**: ``name`` = the network; ``rec_datetime`` (UTC, whole seconds); annotations
  ``model``, ``simulator`` ('brian2', 'brian2cuda'), ``dt`` (float, **ms**, as PyNN),
  ``seed``, ``lsnn_bio_version`` and the caller's annotations (str, int, float or bool,
  so every format keeps them).
* **Segment** per trial, ``trial000``, ``trial001``, ... (annotation ``trial``).
* **SpikeTrain** per neuron of every spiking population, in ms, ``t_start`` 0, ``t_stop`` =
  steps * dt; a spike in step k is at k * dt (Brian2's SpikeMonitor time). Named ``ALIF[3]``;
  annotations ``source_population``, ``source_index`` (index in the population),
  ``channel_id`` (running index over all spiking populations in document order),
  ``neuron_type`` (the neuron model) and ``sign`` (+1 / -1 from Dale's law, 0 without signs).
* **AnalogSignal** per recorded (population, variable), 2-D (steps, neurons), named after the
  variable as PyNN names it (``v``, ``A``; the population is the ``source_population``
  annotation and the signal's Group), in the units PyNN reports (:func:`lsnn_bio.units.neo_unit`);
  ``sampling_period`` = dt, ``t_start`` 0: sample k is the state at the end of step k, labelled
  k * dt as Brian2's ``StateMonitor(when='end')`` does, so a spike and the reset it causes share
  a time. ``array_annotations``: ``channel_index``, ``neuron_type``, ``sign`` and, for spiking
  populations, ``channel_id``.
* **Event** and **Epoch** ``task`` per trial from ``(step, duration_steps, kind, label)``
  tuples: labels ``kind:label`` (``kind`` when the label is empty), ``array_annotations``
  ``kind`` and ``label``. A trial without events gets neither.
* **Group** per population (readouts included) holding its trains and signals from every
  trial; annotations ``source_population``, ``neuron_type``, ``size``.
"""

from datetime import UTC, datetime

import numpy as np
import quantities as pq

from .._version import __version__
from ..errors import LsnnBioError
from ..units import MS, neo_unit, seconds


class NeoExportError(LsnnBioError, ValueError):
    """Trials, events or annotations that cannot become a Neo block as given."""


RESERVED = ("model", "simulator", "dt", "seed", "lsnn_bio_version")
SIMPLE = (str, int, float, bool)


def to_block(spec, trials, *, dt, simulator, annotations=None, events=None):
    """One Block for ``trials`` of ``spec`` (each with ``.spikes`` and ``.states`` as in BrianResult).

    ``dt``: the time step, a Brian2 or ``quantities`` quantity, or a float in seconds.
    ``events``: per trial a list of ``(step, duration_steps, kind, label)``.
    """
    import neo

    try:
        dt_ms = seconds(dt, "dt") / MS
    except ValueError as error:
        raise NeoExportError(str(error)) from None
    trials = list(trials)
    if not trials:
        raise NeoExportError("to_block needs at least one trial (got an empty list)")
    if events is not None and len(events) != len(trials):
        raise NeoExportError(f"events: got {len(events)} lists for {len(trials)} trials (one list per trial)")
    extra = _check_annotations(annotations or {})
    spiking = [p for p in spec.populations.values() if p.spiking and not p.readout]
    first_id, running = {}, 0
    for population in spiking:
        first_id[population.name], running = running, running + population.size

    block = neo.Block(
        name=spec.name,
        description=f"{spec.name} simulated with {simulator}, dt = {dt_ms:g} ms",
        rec_datetime=datetime.now(UTC).replace(microsecond=0),
    )
    block.annotate(
        model=spec.name, simulator=str(simulator), dt=dt_ms, seed=int(spec.seed), lsnn_bio_version=__version__, **extra
    )
    groups = {
        p.name: neo.Group(name=p.name, source_population=p.name, neuron_type=p.model.name, size=int(p.size))
        for p in spec.populations.values()
    }
    for t, trial in enumerate(trials):
        where = f"trial {t}"
        _check_trial_dt(trial, dt_ms, where)
        spikes, states = _trial_arrays(spec, trial, where)
        steps = _trial_steps(spikes, states, where)
        segment = neo.Segment(name=f"trial{t:03d}", rec_datetime=block.rec_datetime, trial=t)
        for population in spiking:
            if population.name in spikes:
                for train in _spiketrains(
                    population, spikes[population.name], dt_ms, steps * dt_ms, first_id[population.name]
                ):
                    segment.spiketrains.append(train)
                    groups[population.name].add(train)
        for (name, var), values in states.items():
            signal = _signal(spec.populations[name], var, values, dt_ms, first_id.get(name), where)
            segment.analogsignals.append(signal)
            groups[name].add(signal)
        if events is not None and events[t] is not None and len(events[t]):
            event, epoch = _task_events(events[t], dt_ms, steps, where)
            segment.events.append(event)
            segment.epochs.append(epoch)
        block.segments.append(segment)
    block.groups.extend([g for g in groups.values() if g.spiketrains or g.analogsignals])
    block.check_relationships()
    return block


def follow_trains(segments):
    """Follow each neuron or unit across segments: by ``channel_id``, else by name, else by position.

    ``segments`` is a list of lists of SpikeTrains. Returns ``(keys, per_segment, matched_by)``:
    the keys in order of first appearance, one ``{key: train}`` dict per segment, and which
    rule matched (the first that is unique within every segment).
    """
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


def _check_annotations(annotations):
    """Only simple values: every format (NIX, NWB, MATLAB) keeps them unchanged."""
    clean = {}
    for key, value in annotations.items():
        if key in RESERVED:
            raise NeoExportError(f"annotation '{key}' is set by to_block itself (reserved: {', '.join(RESERVED)})")
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, SIMPLE):
            raise NeoExportError(
                f"annotation '{key}' is a {type(value).__name__}; use str, int, float or bool so every Neo format keeps it"
            )
        clean[str(key)] = value
    return clean


def _check_trial_dt(trial, dt_ms, where):
    trial_dt = getattr(trial, "dt", None)  # BrianResult.dt: float seconds
    if isinstance(trial_dt, (int, float)) and not np.isclose(trial_dt / MS, dt_ms, rtol=1e-9, atol=0):
        raise NeoExportError(
            f"{where}: was simulated with dt = {trial_dt / MS:g} ms but to_block got dt = {dt_ms:g} ms"
        )


def _trial_arrays(spec, trial, where):
    try:
        spikes = dict(trial.spikes)
    except AttributeError:
        raise NeoExportError(f"{where}: has no .spikes (expected a BrianResult-like object)") from None
    states = dict(getattr(trial, "states", None) or {})
    for key in states:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise NeoExportError(f"{where}: states are keyed by (population, variable) pairs, got {key!r}")
    for name in list(spikes) + [name for name, _ in states]:
        if name not in spec.populations:
            raise NeoExportError(
                f"{where}: population '{name}' is not in network '{spec.name}' (populations: {', '.join(spec.populations)})"
            )
    for name, raster in spikes.items():
        population = spec.populations[name]
        if not population.spiking or population.readout:
            raise NeoExportError(f"{where}: population '{name}' does not spike (a readout has signals only)")
        raster = np.asarray(raster)
        if raster.ndim != 2 or raster.shape[1] != population.size:
            raise NeoExportError(
                f"{where}: spikes['{name}'] has shape {raster.shape}, expected (steps, {population.size})"
            )
        spikes[name] = raster.astype(bool, copy=False)
    for (name, var), values in states.items():
        size = spec.populations[name].size
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != size:
            raise NeoExportError(
                f"{where}: states['{name}', '{var}'] has shape {values.shape}, expected (steps, {size})"
            )
        states[name, var] = values
    return spikes, states


def _trial_steps(spikes, states, where):
    lengths = {a.shape[0] for a in spikes.values()} | {v.shape[0] for v in states.values()}
    if not lengths:
        raise NeoExportError(f"{where}: has neither spikes nor states to export")
    if len(lengths) > 1:
        raise NeoExportError(f"{where}: spikes and states cover different numbers of steps {sorted(lengths)}")
    return lengths.pop()


def _signs(population):
    if population.signs is None:
        return np.zeros(population.size, dtype=np.int64)
    return np.asarray(population.signs, dtype=np.int64)


def _spiketrains(population, raster, dt_ms, t_stop, first_id):
    import neo

    signs = _signs(population)
    neurons, steps = np.nonzero(raster.T)  # sorted by neuron, then by time
    bounds = np.searchsorted(neurons, np.arange(population.size + 1))
    for index in range(population.size):
        yield neo.SpikeTrain(
            steps[bounds[index] : bounds[index + 1]] * dt_ms,
            units="ms",
            t_start=0.0,
            t_stop=t_stop,
            name=f"{population.name}[{index}]",
            source_population=population.name,
            channel_id=first_id + index,
            source_index=index,
            neuron_type=population.model.name,
            sign=int(signs[index]),
        )


def _variable_unit(population, var, where):
    from brian2 import Equations

    equations = Equations(population.model.equations)
    if var not in equations:
        known = ", ".join(sorted(equations.names))
        raise NeoExportError(
            f"{where}: population '{population.name}' has no variable '{var}' in its equations (variables: {known})"
        )
    return neo_unit(equations[var].dim)


def _signal(population, var, values, dt_ms, first_id, where):
    import neo

    unit, factor = _variable_unit(population, var, where)
    size = population.size
    array_annotations = {
        "channel_index": np.arange(size),
        "neuron_type": np.array([population.model.name] * size),
        "sign": _signs(population),
    }
    if first_id is not None:
        array_annotations["channel_id"] = np.arange(first_id, first_id + size)
    return neo.AnalogSignal(
        values * factor,
        units=unit,
        sampling_period=dt_ms * pq.ms,
        t_start=0.0 * pq.ms,
        name=var,
        source_population=population.name,
        array_annotations=array_annotations,
    )


def _task_events(trial_events, dt_ms, steps, where):
    import neo

    rows = []
    for entry in trial_events:
        try:
            step, duration, kind, label = entry
            step, duration = int(step), int(duration)
        except (TypeError, ValueError):
            raise NeoExportError(
                f"{where}: event {entry!r} is not a (step, duration_steps, kind, label) tuple"
            ) from None
        if not 0 <= step <= steps or duration < 0:
            raise NeoExportError(f"{where}: event {entry!r} lies outside the trial's {steps} steps")
        rows.append((step, duration, str(kind), str(label)))
    starts = np.array([r[0] for r in rows], dtype=np.float64) * dt_ms
    durations = np.array([r[1] for r in rows], dtype=np.float64) * dt_ms
    labels = np.array([f"{k}:{v}" if v else k for _, _, k, v in rows])
    arrays = {"kind": np.array([r[2] for r in rows]), "label": np.array([r[3] for r in rows])}
    event = neo.Event(starts * pq.ms, labels=labels, name="task", array_annotations=dict(arrays))
    epoch = neo.Epoch(
        starts * pq.ms, durations=durations * pq.ms, labels=labels, name="task", array_annotations=dict(arrays)
    )
    return event, epoch

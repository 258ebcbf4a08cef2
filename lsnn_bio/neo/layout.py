"""Simulator results -> Neo, in PyNN's layout, and Neo files chosen by extension.

Electrophysiologists read Neo; PyNN defines how simulator output looks in it
(``reference/peers.md`` section 5), so a simulated network reads like a recording:

* **Block**: ``name`` = the network (``spec.name``); ``rec_datetime`` (UTC, whole
  seconds); annotations ``model``, ``simulator`` ('brian2', 'brian2cuda', ...),
  ``dt`` (float, **ms**, as PyNN), ``seed``, ``lsnn_bio_version`` and the caller's
  annotations (str, int, float or bool only, so every format keeps them).
* **Segment** per trial, ``trial000``, ``trial001``, ... (annotation ``trial``).
* **SpikeTrain** per neuron of every spiking population, in ms, ``t_start`` 0,
  ``t_stop`` = steps * dt; a spike in step k is at k * dt (Brian2's SpikeMonitor
  time). Named ``ALIF[3]``; annotations ``source_population``, ``source_index``
  (index in the population), ``channel_id`` (running index over all spiking
  populations in document order), ``neuron_type`` (the neuron model's name) and
  ``sign`` (+1 / -1 from Dale's law, 0 when the population has no signs).
* **AnalogSignal** per recorded (population, variable), 2-D (steps, neurons),
  named ``ALIF.v``; units from the Brian2 equations (volt -> mV, second -> ms,
  amp -> nA, siemens -> uS, farad -> nF, ohm -> MOhm, hertz -> Hz, 1 ->
  dimensionless, anything else in SI base units); ``sampling_period`` = dt,
  ``t_start`` 0: sample k is the state at the end of step k, labelled k * dt
  as Brian2's ``StateMonitor(when='end')`` does, so a spike and the reset it
  causes share a time. Annotations ``source_population``, ``variable``;
  ``array_annotations`` ``channel_index``, ``neuron_type``,
  ``sign`` and, for spiking populations, ``channel_id``. The ALIF adaptive
  threshold ``A`` is just another variable (``ALIF.A``).
* **Event** and **Epoch** ``task`` per trial from ``(step, duration_steps, kind,
  label)`` tuples: times k * dt, durations in ms, labels ``kind:label`` (just
  ``kind`` when the label is empty), ``array_annotations`` ``kind`` and ``label``.
  A trial without events gets neither.
* **Group** per population (readouts included), holding its spike trains and
  signals from every trial; annotations ``source_population``, ``neuron_type``,
  ``size``.

What each format keeps, as :func:`read_block` returns it (tested in
``tests/test_neo_export.py``):

* ``.pkl`` (``PickleIO``): everything, exactly. Reading unpickles: only read
  ``.pkl`` files you trust.
* ``.nix`` (``NixIO``): everything. ``NixIO``'s own ``nix_name`` annotations are
  removed (from the written block too), numpy scalar annotations come back as
  Python numbers, ``rec_datetime`` as UTC (NIX stores whole seconds). NixIO
  writes every train as its own DataArray, so it is slow and large for many
  trials (about 10 ms and 35 kB per train); ``.nwb`` or ``.pkl`` suit those.
* ``.mat`` (``NeoMatlabIO``): data, names, units, annotations and Groups natively;
  MATLAB has no place for ``array_annotations`` and pads labels with spaces, so
  the layout is also stored as JSON in the block annotation ``lsnn_bio_layout``,
  from which :func:`read_block` restores array annotations and labels exactly.
* ``.nwb`` (``NWBIO``): natively spike times (seconds, ``Units`` table, with
  ``obs_intervals`` = [t_start, t_stop] and the train's name), signals
  (``TimeSeries`` named ``'<segment> <signal> <i>'``, units, rate, start), events
  (``AnnotationSeries``), epochs (the ``epochs`` table), segment and block names,
  ``session_start_time`` (= ``rec_datetime``) and ``session_description`` (= the
  block description). Everything else (block, segment and object annotations,
  array annotations, original names and units, Groups) travels as JSON in the
  NWB file's ``notes``, and :func:`read_block` restores it, so the block reads
  back with the same layout (times rescaled from seconds: equal to float
  precision, not bit for bit). Other NWB readers see only the native part.

Any other extension Neo reads (a recording: ``.smr``, ``.abf``, ...) is read with
``neo.io.get_io`` and returned as that IO gives it. Annotations a format cannot
represent are written as their ``str`` in the JSON layout.
"""
import copy
import json
import os
import tempfile
import warnings
from contextlib import contextmanager
from datetime import date, datetime, time, timezone
from pathlib import Path

import numpy as np
import quantities as pq

from .errors import LsnnBioError


class NeoExportError(LsnnBioError, ValueError):
    """Trials, events or annotations that cannot become a Neo block as given."""


class NeoFormatError(LsnnBioError, ValueError):
    """A file extension no Neo IO handles."""


class NeoFileError(LsnnBioError, OSError):
    """A Neo file that could not be written or read."""


class NeoFileNotFoundError(NeoFileError, FileNotFoundError):
    """A missing file, or a missing folder to write into."""


# extension -> Neo IO class name; the order is the one error messages list.
FORMATS = {".nix": "NixIO", ".nwb": "NWBIO", ".pkl": "PickleIO", ".mat": "NeoMatlabIO"}
EXTENSIONS = tuple(FORMATS)
LAYOUT_KEY = "lsnn_bio_layout"
_CONTAINERS = ("spiketrains", "analogsignals", "irregularlysampledsignals", "events", "epochs")
_SIMPLE = (str, int, float, bool)


# ----------------------------------------------------------------------------- building


def to_block(spec, trials, *, dt, simulator, annotations=None, events=None):
    """One Block for ``trials`` of ``spec`` (each with ``.spikes`` and ``.states`` as in BrianResult).

    ``dt``: the time step, a Brian2 or ``quantities`` quantity, or a float in
    seconds. ``events``: per trial a list of ``(step, duration_steps, kind, label)``.
    """
    import neo

    from . import __version__

    dt_ms = _dt_in_ms(dt)
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
        rec_datetime=datetime.now(timezone.utc).replace(microsecond=0),
    )
    block.annotate(model=spec.name, simulator=str(simulator), dt=dt_ms, seed=int(spec.seed),
                   lsnn_bio_version=__version__, **extra)
    groups = {}
    for population in spec.populations.values():
        groups[population.name] = neo.Group(
            name=population.name, source_population=population.name,
            neuron_type=population.model.name, size=int(population.size))

    for t, trial in enumerate(trials):
        where = f"trial {t}"
        _check_trial_dt(trial, dt_ms, where)
        spikes, states = _trial_arrays(spec, trial, where)
        steps = _trial_steps(spikes, states, where)
        segment = neo.Segment(name=f"trial{t:03d}", rec_datetime=block.rec_datetime, trial=t)
        t_stop = steps * dt_ms
        for population in spiking:
            if population.name not in spikes:
                continue
            for train in _spiketrains(population, spikes[population.name], dt_ms, t_stop, first_id[population.name]):
                segment.spiketrains.append(train)
                groups[population.name].add(train)
        for name, variables in states.items():
            population = spec.populations[name]
            for var, values in variables.items():
                signal = _signal(population, var, values, dt_ms, first_id.get(name), where)
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


def _dt_in_ms(dt):
    """Brian2 quantity, quantities quantity or float seconds -> float ms."""
    try:
        if isinstance(dt, pq.Quantity):
            value = float(dt.rescale(pq.ms).magnitude)
        elif hasattr(dt, "dim"):  # a Brian2 quantity
            import brian2

            if dt.dim != brian2.second.dim:
                raise ValueError(f"has dimensions {dt.dim}")
            value = float(dt / brian2.ms)
        else:
            value = float(dt) * 1e3
    except (TypeError, ValueError) as error:
        raise NeoExportError(f"dt must be a time (e.g. 1 * ms, or a float in seconds), got {dt!r}: {error}") from None
    if not np.isfinite(value) or value <= 0:
        raise NeoExportError(f"dt must be a positive time, got {dt!r}")
    return value


def _check_annotations(annotations):
    """Only simple values: every format (NIX, NWB, MATLAB) keeps them unchanged."""
    reserved = {"model", "simulator", "dt", "seed", "lsnn_bio_version", LAYOUT_KEY}
    clean = {}
    for key, value in annotations.items():
        if key in reserved:
            raise NeoExportError(f"annotation '{key}' is set by to_block itself (reserved: {', '.join(sorted(reserved))})")
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, _SIMPLE):
            raise NeoExportError(
                f"annotation '{key}' is a {type(value).__name__}; use str, int, float or bool so every Neo format keeps it")
        clean[str(key)] = value
    return clean


def _check_trial_dt(trial, dt_ms, where):
    trial_dt = getattr(trial, "dt", None)
    if isinstance(trial_dt, (int, float)) and not np.isclose(trial_dt * 1e3, dt_ms, rtol=1e-9, atol=0):
        raise NeoExportError(f"{where}: was simulated with dt = {trial_dt * 1e3:g} ms but to_block got dt = {dt_ms:g} ms")


def _trial_arrays(spec, trial, where):
    try:
        spikes = dict(trial.spikes)
    except AttributeError:
        raise NeoExportError(f"{where}: has no .spikes (expected a BrianResult-like object)") from None
    states = {name: dict(variables) for name, variables in (getattr(trial, "states", None) or {}).items()}
    for name in list(spikes) + list(states):
        if name not in spec.populations:
            raise NeoExportError(
                f"{where}: population '{name}' is not in network '{spec.name}' (populations: {', '.join(spec.populations)})")
    for name, raster in spikes.items():
        population = spec.populations[name]
        if not population.spiking or population.readout:
            raise NeoExportError(f"{where}: population '{name}' does not spike (a readout has signals only)")
        raster = np.asarray(raster)
        if raster.ndim != 2 or raster.shape[1] != population.size:
            raise NeoExportError(f"{where}: spikes['{name}'] has shape {raster.shape}, expected (steps, {population.size})")
        spikes[name] = raster.astype(bool, copy=False)
    for name, variables in states.items():
        size = spec.populations[name].size
        for var, values in variables.items():
            values = np.asarray(values, dtype=np.float64)
            if values.ndim != 2 or values.shape[1] != size:
                raise NeoExportError(f"{where}: states['{name}']['{var}'] has shape {values.shape}, expected (steps, {size})")
            variables[var] = values
    return spikes, states


def _trial_steps(spikes, states, where):
    lengths = {a.shape[0] for a in spikes.values()} | {v.shape[0] for vs in states.values() for v in vs.values()}
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
        times = steps[bounds[index]:bounds[index + 1]] * dt_ms
        yield neo.SpikeTrain(
            times, units="ms", t_start=0.0, t_stop=t_stop, name=f"{population.name}[{index}]",
            source_population=population.name, channel_id=first_id + index, source_index=index,
            neuron_type=population.model.name, sign=int(signs[index]))


# Brian2 unit -> (Neo unit, factor from SI): the units PyNN reports.
_NAMED_UNITS = (("volt", "mV", 1e3), ("second", "ms", 1e3), ("amp", "nA", 1e9), ("siemens", "uS", 1e6),
                ("farad", "nF", 1e9), ("ohm", "MOhm", 1e-6), ("hertz", "Hz", 1.0))


def _neo_unit(dim):
    """A Brian2 dimension -> (quantities unit string, factor to multiply SI values by)."""
    import brian2
    from brian2.units.fundamentalunits import DIMENSIONLESS

    if dim is DIMENSIONLESS or dim == DIMENSIONLESS:
        return "dimensionless", 1.0
    for name, unit, factor in _NAMED_UNITS:
        if dim == getattr(brian2, name).dim:
            return unit, factor
    base = pq.dimensionless
    for symbol, unit in (("m", pq.m), ("kg", pq.kg), ("s", pq.s), ("A", pq.A), ("K", pq.K), ("mol", pq.mol),
                         ("cd", pq.cd)):
        exponent = dim.get_dimension(symbol)
        if exponent:
            base = base * unit ** exponent
    return base.dimensionality.string, 1.0


def _variable_unit(population, var, where):
    from brian2 import Equations

    equations = Equations(population.model.equations)
    if var not in equations:
        known = ", ".join(sorted(equations.names))
        raise NeoExportError(
            f"{where}: population '{population.name}' has no variable '{var}' in its equations (variables: {known})")
    return _neo_unit(equations[var].dim)


def _signal(population, var, values, dt_ms, first_id, where):
    import neo

    unit, factor = _variable_unit(population, var, where)
    size = population.size
    array_annotations = {"channel_index": np.arange(size), "neuron_type": np.array([population.model.name] * size),
                         "sign": _signs(population)}
    if first_id is not None:
        array_annotations["channel_id"] = np.arange(first_id, first_id + size)
    return neo.AnalogSignal(
        values * factor, units=unit, sampling_period=dt_ms * pq.ms, t_start=0.0 * pq.ms,
        name=f"{population.name}.{var}", source_population=population.name, variable=var,
        array_annotations=array_annotations)  # NIX stores both kinds in one namespace: no clashing names


def _task_events(trial_events, dt_ms, steps, where):
    import neo

    rows = []
    for entry in trial_events:
        try:
            step, duration, kind, label = entry
            step, duration = int(step), int(duration)
        except (TypeError, ValueError):
            raise NeoExportError(f"{where}: event {entry!r} is not a (step, duration_steps, kind, label) tuple") from None
        if not 0 <= step <= steps or duration < 0:
            raise NeoExportError(f"{where}: event {entry!r} lies outside the trial's {steps} steps")
        rows.append((step, duration, str(kind), str(label)))
    starts = np.array([r[0] for r in rows], dtype=np.float64) * dt_ms
    durations = np.array([r[1] for r in rows], dtype=np.float64) * dt_ms
    kinds = np.array([r[2] for r in rows])
    label_values = np.array([r[3] for r in rows])
    labels = np.array([f"{k}:{v}" if v else k for _, _, k, v in rows])
    arrays = {"kind": kinds, "label": label_values}
    event = neo.Event(starts * pq.ms, labels=labels, name="task", array_annotations=dict(arrays))
    epoch = neo.Epoch(starts * pq.ms, durations=durations * pq.ms, labels=labels, name="task",
                      array_annotations=dict(arrays))
    return event, epoch


# ----------------------------------------------------------------------------- files


def _format(path, reading=False):
    extension = Path(path).suffix.lower()
    if extension in FORMATS:
        return extension
    if reading:
        return None
    raise NeoFormatError(
        f"{path}: unknown Neo format '{extension or '(no extension)'}' (accepted: {', '.join(EXTENSIONS)})")


def write_block(block, path):
    """Write ``block`` with Neo's IO for the extension; the file appears whole or not at all."""
    import neo.io

    path = Path(path)
    extension = _format(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise NeoFileNotFoundError(f"{path}: the folder {folder} does not exist")
    if path.is_dir():
        raise NeoFileError(f"{path}: is a folder, not a file name")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NeoFileError(f"{path}: the folder {folder} is not writable")
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{extension}", dir=folder)
    except OSError as error:
        raise NeoFileError(f"{path}: cannot create a file in {folder}: {error}") from error
    os.close(descriptor)
    try:
        with _quiet(), _utc_rec_datetime(block):
            if extension == ".nix":
                with _without_new_nix_names(block), neo.io.NixIO(temporary, mode="ow") as io:
                    io.write_block(block)
            elif extension == ".nwb":
                io = neo.io.NWBIO(temporary, mode="w")
                io.write_block(_for_nwb(block))
            elif extension == ".mat":
                with _annotated(block, **{LAYOUT_KEY: json.dumps(_layout(block))}):
                    neo.io.NeoMatlabIO(temporary).write_block(block)
            else:
                neo.io.PickleIO(temporary).write_block(block)
        _apply_umask(temporary)
        os.replace(temporary, path)
    except BaseException as error:
        _remove(temporary)
        if isinstance(error, Exception) and not isinstance(error, LsnnBioError):
            raise NeoFileError(f"{path}: writing {FORMATS[extension]} failed: {type(error).__name__}: {error}") from error
        raise
    return path


def read_block(path):
    """The first Block in a Neo-readable file, with the layout this module wrote restored."""
    import neo.io

    path = Path(path)
    if not path.exists():
        raise NeoFileNotFoundError(f"{path}: no such file")
    extension = _format(path, reading=True)
    try:
        with _quiet():
            if extension == ".nix":
                with neo.io.NixIO(str(path), mode="ro") as io:
                    blocks = io.read_all_blocks()
            elif extension == ".nwb":
                io = neo.io.NWBIO(str(path), mode="r")
                try:
                    blocks = io.read_all_blocks()
                finally:
                    io.close()
            elif extension == ".mat":
                blocks = [neo.io.NeoMatlabIO(str(path)).read_block()]
            elif extension == ".pkl":
                blocks = [neo.io.PickleIO(str(path)).read_block()]
            else:
                blocks = _read_other(path)
    except LsnnBioError:
        raise
    except Exception as error:
        what = FORMATS.get(extension, "Neo")
        raise NeoFileError(f"{path}: reading with {what} failed: {type(error).__name__}: {error}") from error
    if not blocks:
        raise NeoFileError(f"{path}: the file holds no Neo Block")
    block = blocks[0]
    layout = None
    if extension == ".nwb":
        layout = _json_layout(block.annotations.get("notes"))
    elif extension == ".mat":
        layout = _json_layout(block.annotations.pop(LAYOUT_KEY, None))
    if layout is not None:
        _restore(block, layout, nwb=extension == ".nwb")
    if extension in FORMATS:
        _normalise(block, extension)
    return block


def _read_other(path):
    import neo.io

    try:
        io = neo.io.get_io(str(path))
    except (IOError, ValueError):
        raise NeoFormatError(
            f"{path}: no Neo IO reads '{path.suffix or '(no extension)'}' files "
            f"(this package writes {', '.join(EXTENSIONS)}; Neo reads the formats in neo.io.iolist)") from None
    return [io.read_block()] if hasattr(io, "read_block") else io.read()


@contextmanager
def _quiet():
    """Neo and PyNWB warn about renames and deprecations they handle themselves."""
    import logging

    neo_logger, root = logging.getLogger("Neo"), logging.getLogger()
    levels = neo_logger.level, root.level
    # NWBIO logs its renames with logging.warning, which would configure the root logger
    # for the whole program if it had no handler yet.
    guard = logging.NullHandler()
    root.addHandler(guard)
    neo_logger.setLevel(logging.ERROR)
    root.setLevel(max(root.level, logging.ERROR))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        neo_logger.setLevel(levels[0])
        root.setLevel(levels[1])
        root.removeHandler(guard)


@contextmanager
def _utc_rec_datetime(block):
    """Write ``rec_datetime`` as UTC whole seconds: NIX and MATLAB drop the time zone."""
    holders = [block, *block.segments]
    originals = [obj.rec_datetime for obj in holders]
    for obj, stamp in zip(holders, originals):
        if isinstance(stamp, datetime):
            aware = stamp if stamp.tzinfo else stamp.astimezone()
            obj.rec_datetime = aware.astimezone(timezone.utc).replace(microsecond=0)
    try:
        yield
    finally:
        for obj, stamp in zip(holders, originals):
            obj.rec_datetime = stamp


@contextmanager
def _annotated(block, **annotations):
    saved = {k: block.annotations[k] for k in annotations if k in block.annotations}
    block.annotations.update(annotations)
    try:
        yield
    finally:
        for key in annotations:
            block.annotations.pop(key, None)
        block.annotations.update(saved)


def _neo_objects(block):
    yield block
    for segment in block.segments:
        yield segment
        for container in _CONTAINERS:
            yield from getattr(segment, container)
    yield from _all_groups(block.groups)


def _all_groups(groups):
    for group in groups:
        yield group
        yield from _all_groups(group.groups)


@contextmanager
def _without_new_nix_names(block):
    """NixIO stamps ``nix_name`` on every object it writes; leave the caller's block as it was."""
    before = {id(obj) for obj in _neo_objects(block) if "nix_name" in obj.annotations}
    try:
        yield
    finally:
        for obj in _neo_objects(block):
            if id(obj) not in before:
                obj.annotations.pop("nix_name", None)


def _apply_umask(path):
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ----------------------------------------------------------------------------- NWB and MATLAB


def _for_nwb(block):
    """A copy NWBIO can write: unique NWB-legal names, session metadata, the layout in ``notes``."""
    layout = _layout(block)
    block = copy.deepcopy(block)
    stamp = block.rec_datetime or datetime.now(timezone.utc).replace(microsecond=0)
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()
    block.name = _nwb_name(block.name) or "block"
    block.annotations = {
        "session_start_time": stamp,
        "identifier": f"{block.name} {stamp.isoformat()}",
        "session_description": block.description or block.name,
        "notes": json.dumps(layout),
    }
    for group in list(_all_groups(block.groups)):
        group.annotations = {}
    block.groups = []  # NWB has no place for them; the layout rebuilds them
    for segment, name in zip(block.segments, _nwb_segment_names([s.name for s in block.segments])):
        segment.name = name
        segment.annotations = {}
        for container in _CONTAINERS:
            for i, obj in enumerate(getattr(segment, container)):
                obj.annotations = {}
                obj.array_annotations = {}
                if container == "epochs":  # NWBIO keeps epoch names and needs them unique per file
                    obj.name = _nwb_key(segment.name, container, obj.name, i)
                elif obj.name is not None:
                    obj.name = _nwb_name(obj.name)
    return block


def _nwb_name(name):
    return None if name is None else str(name).replace("/", "|")


def _nwb_key(segment_name, container, name, index):
    """The name an object has in the NWB file (our renames, then NWBIO's in neo 0.14)."""
    name = _nwb_name(name)
    if container in ("analogsignals", "irregularlysampledsignals"):
        return f"{segment_name} {name} {index}"
    if container == "events":
        return f"{segment_name}  {name} {index}"
    if container == "epochs":
        return f"{segment_name} {name or 'epoch'} {index}"
    return name


def _nwb_segment_names(names):
    """NWB tells segments apart by name only: keep the names when they are unique, else number them."""
    clean = [_nwb_name(name) for name in names]
    if all(clean) and len(set(clean)) == len(clean):
        return clean
    return [f"{name or 'segment'} {s:03d}" for s, name in enumerate(clean)]


def _layout(block):
    """JSON-able description of everything but the data, deduplicated across trials."""
    tables, index = [], {}

    def table_id(records):
        key = json.dumps(records, sort_keys=True)
        if key not in index:
            index[key] = len(tables)
            tables.append(records)
        return index[key]

    positions = {}
    segments = []
    for s, segment in enumerate(block.segments):
        entry = {"name": segment.name, "description": segment.description,
                 "rec_datetime": _encode(segment.rec_datetime), "annotations": _encode(segment.annotations),
                 "tables": {}}
        for container in _CONTAINERS:
            records = []
            for i, obj in enumerate(getattr(segment, container)):
                positions[id(obj)] = (container, s, i)
                record = {"name": obj.name, "description": obj.description,
                          "units": obj.units.dimensionality.string, "annotations": _encode(obj.annotations),
                          "array_annotations": _encode_arrays(obj.array_annotations)}
                if hasattr(obj, "sampling_period"):
                    record["time_units"] = obj.t_start.dimensionality.string
                if container in ("events", "epochs"):
                    record["labels"] = [str(x) for x in obj.labels]
                records.append(record)
            if records:
                entry["tables"][container] = table_id(records)
        segments.append(entry)
    return {
        "format": "lsnn_bio.neo_layout", "version": 1,
        "block": {"name": block.name, "description": block.description,
                  "rec_datetime": _encode(block.rec_datetime), "annotations": _encode(
            {k: v for k, v in block.annotations.items() if k not in (LAYOUT_KEY, "nix_name")})},
        "segments": segments, "tables": tables,
        "groups": [_group_layout(group, positions) for group in block.groups],
    }


def _group_layout(group, positions):
    members = {}
    for container in _CONTAINERS:
        by_segment = {}
        for obj in getattr(group, container, []):
            if id(obj) in positions:
                _, s, i = positions[id(obj)]
                by_segment.setdefault(s, []).append(i)
        shared = {}
        for s, indices in by_segment.items():
            shared.setdefault(json.dumps(indices), []).append(s)
        if shared:
            members[container] = [[segs, json.loads(indices)] for indices, segs in shared.items()]
    return {"name": group.name, "description": group.description, "annotations": _encode(group.annotations),
            "members": members, "groups": [_group_layout(g, positions) for g in group.groups]}


def _json_layout(text):
    if not isinstance(text, str):
        return None
    try:
        layout = json.loads(text)
    except ValueError:
        return None
    if isinstance(layout, dict) and layout.get("format") == "lsnn_bio.neo_layout" and layout.get("version") == 1:
        return layout
    return None


def _restore(block, layout, nwb):
    """Put back what NWB or MATLAB could not store, from the JSON layout written beside the data."""
    import neo

    meta = layout["block"]
    block.name, block.description = meta["name"], meta["description"]
    block.rec_datetime = _decode(meta.get("rec_datetime"))
    block.annotations = _decode(meta["annotations"])
    records = layout["segments"]
    written = _nwb_segment_names([r["name"] for r in records]) if nwb else [r["name"] for r in records]
    if nwb:  # NWBIO orders segments by the first object it meets; put them back in trial order
        by_name = {segment.name: segment for segment in block.segments}
        block.segments = [by_name.get(name) or neo.Segment(name=name) for name in written]
        for segment in block.segments:
            segment.block = block
    for segment, record, segment_name in zip(block.segments, records, written):
        segment.name, segment.description = record["name"], record["description"]
        segment.rec_datetime = _decode(record.get("rec_datetime")) or segment.rec_datetime
        segment.annotations = _decode(record["annotations"])
        offset = 0  # NWBIO numbers analog and irregular signals in one sequence
        for container in _CONTAINERS:
            objects = list(getattr(segment, container))
            table = layout["tables"][record["tables"][container]] if container in record["tables"] else []
            if nwb and container != "spiketrains" and table:
                first = offset if container == "irregularlysampledsignals" else 0
                wanted = {_nwb_key(segment_name, container, r["name"], first + i): i for i, r in enumerate(table)}
                if all(obj.name in wanted for obj in objects):
                    objects.sort(key=lambda obj: wanted[obj.name])
            if container == "analogsignals":
                offset = len(table)
            if len(objects) != len(table):
                continue  # not the file the layout describes: leave it as the IO read it
            restored = []
            for obj, r in zip(objects, table):
                if nwb:
                    obj = _in_units(obj, r)
                _restore_object(obj, r)
                restored.append(obj)
            setattr(segment, container, restored)
    if nwb:
        block.groups = [_rebuild_group(g, block) for g in layout["groups"]]


def _in_units(obj, record):
    """NWB stores times in seconds; give the object back its own units."""
    if obj.units.dimensionality.string != record["units"]:
        obj = obj.rescale(record["units"])
    time_units = record.get("time_units")
    if time_units and hasattr(obj, "sampling_period"):
        obj.t_start = obj.t_start.rescale(time_units)
        obj.sampling_period = obj.sampling_period.rescale(time_units)
    return obj


def _restore_object(obj, record):
    obj.name, obj.description = record["name"], record["description"]
    obj.annotations = _decode(record["annotations"])
    if "labels" in record:
        obj.labels = np.array(record["labels"], dtype=str)
    arrays = _decode_arrays(record["array_annotations"])
    obj.array_annotations = {}
    if arrays:
        obj.array_annotate(**arrays)


def _rebuild_group(record, block):
    import neo

    group = neo.Group(name=record["name"], description=record["description"], **_decode(record["annotations"]))
    for container, shared in record["members"].items():
        objects = []
        for segs, indices in shared:
            for s in segs:
                items = getattr(block.segments[s], container)
                objects.extend(items[i] for i in indices if i < len(items))
        group.add(*objects)
    for child in record.get("groups", []):
        group.groups.append(_rebuild_group(child, block))
    return group


def _normalise(block, extension):
    """Python scalars in annotations, UTC ``rec_datetime``: one shape whatever the format."""
    for obj in _neo_objects(block):
        if extension == ".nix":
            obj.annotations.pop("nix_name", None)
        for key, value in list(obj.annotations.items()):
            obj.annotations[key] = _python(value)
    for obj in [block, *block.segments]:
        stamp = obj.rec_datetime
        if isinstance(stamp, datetime):
            if stamp.tzinfo is None:
                # NIX returns local wall time, MATLAB the UTC wall time that was written.
                stamp = stamp.astimezone() if extension == ".nix" else stamp.replace(tzinfo=timezone.utc)
            obj.rec_datetime = stamp.astimezone(timezone.utc)


def _python(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def _encode(value):
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, pq.Quantity):
        return {"$quantity": np.asarray(value.magnitude).tolist(), "units": value.dimensionality.string}
    if isinstance(value, np.ndarray):
        return {"$array": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return str(value)


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if "$date" in value:
        return date.fromisoformat(value["$date"])
    if "$time" in value:
        return time.fromisoformat(value["$time"])
    if "$quantity" in value:
        return pq.Quantity(value["$quantity"], value["units"])
    if "$array" in value:
        return np.array(value["$array"], dtype=np.dtype(value["dtype"]))
    return {k: _decode(v) for k, v in value.items()}


def _encode_arrays(arrays):
    return {str(k): {"values": np.asarray(v).tolist(), "dtype": np.asarray(v).dtype.str} for k, v in arrays.items()}


def _decode_arrays(arrays):
    return {k: np.array(v["values"], dtype=np.dtype(v["dtype"])) for k, v in arrays.items()}

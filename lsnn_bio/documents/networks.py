"""Network documents: populations, inputs, Dale's law and projections -> a NetworkSpec with its structure drawn.

Each projection entry is validated here into a typed ``ProjectionEntry`` (the synapse model
it resolves to included); ``initialisation.py`` then only draws numbers from a seed.
"""

import os
from pathlib import Path

import brian2
import numpy as np

from .. import seeds
from ..errors import DocumentError
from ..initialisation import INITS, SIGN_MODES, ProjectionEntry, initialise_projections
from ..spec import InputGroup, NetworkSpec, Population, SynapseModel
from .neurons import SYNAPSE_KEYS, check_synapse_with_brian, check_with_brian, load_neuron
from .source import Document, read_text

NETWORK_KEYS = {
    "network": "name of the network",
    "description": "free text",
    "dt": "the time step, e.g. '1 ms'",
    "inputs": "mapping of input names to {size}",
    "populations": "mapping of population names to {neuron, size, ...}",
    "readouts": "mapping of readout names to {neuron, size, ...}",
    "projections": "mapping of projection names to {source, target, ...}",
    "dale": "{excitatory_fraction, inhibitory_in}",
    "relation_to_paper": "free text",
}
POPULATION_KEYS = {"neuron", "size", "refractory", "parameters", "initial"}
PROJECTION_KEYS = {"source", "target", "weights", "connectivity", "delay", "autapses", "synapse", "sign"}


def load_network(path, seed=0, overrides=None, documents=None):
    """Read a network document and build its NetworkSpec with weights drawn from ``seed``.

    ``overrides`` is a nested mapping merged into the document first (an
    experiment's ``network_overrides``, e.g. ``{populations: {ALIF: {parameters:
    {beta: 0 V}}}}``); it is validated like the document itself. ``documents``
    ({file name: text}, a checkpoint's) are read instead of files: every document,
    the network's and its neurons', is then found by its file name alone.
    """
    stored = None if documents is None else dict(documents)
    doc = Document(path, "network", _stored_text(stored, path, None))
    data = doc.data = _merge(doc.data, overrides or {})
    doc.check_keys(data, NETWORK_KEYS, "")
    if "dt" not in data:
        raise doc.error("dt", "missing time step", "e.g. 'dt: 1 ms'")
    dt = doc.quantity(data["dt"], "dt", like=brian2.ms)
    _check_memory(doc, data)
    documents = {doc.path.name: doc.text}

    inputs = {}
    for name, entry in (data.get("inputs") or {}).items():
        doc.check_keys(entry, {"size"}, f"inputs.{name}")
        inputs[name] = InputGroup(name=name, size=_positive_int(doc, entry.get("size"), f"inputs.{name}.size"))

    populations = {}
    for section, readout in (("populations", False), ("readouts", True)):
        for name, entry in (data.get(section) or {}).items():
            if name in populations or name in inputs:
                raise doc.error(f"{section}.{name}", f"the name '{name}' is used twice", "unique names")
            populations[name] = _population(doc, f"{section}.{name}", name, entry, dt, readout, documents, stored)
    if not populations:
        raise doc.error("populations", "the network has no populations")

    _apply_dale(doc, data.get("dale"), inputs, populations, seed)
    groups = {**inputs, **populations}
    entries = [
        _projection(doc, name, entry, inputs, populations, dt)
        for name, entry in (data.get("projections") or {}).items()
    ]
    projections = initialise_projections(
        entries, {n: g.size for n, g in groups.items()}, {n: g.signs for n, g in groups.items()}, seed
    )
    return NetworkSpec(
        name=str(data["network"]),
        dt=dt,
        inputs=inputs,
        populations=populations,
        projections=projections,
        seed=seed,
        documents=documents,
    )


BYTES_PER_POTENTIAL_SYNAPSE = 48  # the dense draw: mask, weights, delays, signs and their per-block copies
BYTES_PER_NEURON = 8 * 32  # per-neuron parameters and initial values, float64


def _check_memory(doc, data):
    """Refuse, before allocating, a network whose dense connectivity cannot fit in this machine's memory."""
    sizes = {}
    for section in ("inputs", "populations", "readouts"):
        for name, entry in (data.get(section) or {}).items():
            size = entry.get("size") if isinstance(entry, dict) else None
            if isinstance(size, int) and not isinstance(size, bool) and size > 0:
                sizes[name] = (size, f"{section}.{name}.size")
    needed = BYTES_PER_NEURON * sum(size for size, _ in sizes.values())
    for entry in (data.get("projections") or {}).values():
        if not isinstance(entry, dict):
            continue
        ends = [[entry.get(end)] if isinstance(entry.get(end), str) else entry.get(end) for end in ("source", "target")]
        if all(isinstance(names, list) and all(n in sizes for n in names) for names in ends):
            pre, post = (sum(sizes[n][0] for n in names) for names in ends)
            needed += BYTES_PER_POTENTIAL_SYNAPSE * pre * post
    available = _physical_memory()
    if available and needed > available:
        name, (size, key) = max(sizes.items(), key=lambda item: item[1][0])
        raise doc.error(
            key,
            f"a network with {size} neurons in '{name}' needs about {_gib(needed)} to draw its dense connectivity, "
            f"more than this machine's {_gib(available)}",
            "sizes whose (pre x post) products fit in memory",
        )


def _physical_memory():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(count):
    for unit in ("GiB", "TiB", "PiB", "EiB"):
        count /= 1024**3 if unit == "GiB" else 1024
        if count < 1024 or unit == "EiB":
            return f"{count:,.1f} {unit}"


def _merge(base, overrides):
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _positive_int(doc, value, key):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise doc.error(key, f"expected a positive whole number, got {value!r}", "e.g. 100")
    return value


def _stored_text(stored, path, doc, key=None):
    """The text of a document held in memory, found by file name; None when documents are read from files."""
    if stored is None:
        return None
    name = Path(path).name
    if name not in stored:
        problem = f"document '{name}' is not among the stored documents"
        if doc is None:
            raise DocumentError(name, None, problem, ", ".join(sorted(stored)))
        raise doc.error(key, problem, ", ".join(sorted(stored)))
    return stored[name]


def _population(doc, key, name, entry, dt, readout, documents, stored):
    doc.check_keys(entry, POPULATION_KEYS, key)
    if "neuron" not in entry:
        raise doc.error(f"{key}.neuron", "missing neuron document", "a path such as 'lif.yaml'")
    neuron_path = doc.path.parent / str(entry["neuron"])
    text = _stored_text(stored, neuron_path, doc, f"{key}.neuron")
    if text is None:
        if not neuron_path.is_file():
            raise doc.error(
                f"{key}.neuron", f"neuron document '{neuron_path}' not found", "a path relative to this file"
            )
        text = read_text(neuron_path)
    model = load_neuron(neuron_path if stored is None else neuron_path.name, text)
    documents[neuron_path.name] = text
    if readout and model.threshold is not None:
        raise doc.error(
            f"{key}.neuron", f"readout '{name}' uses a spiking neuron ({model.name})", "a thresholdless model"
        )
    if readout and not model.output:
        raise doc.error(f"{key}.neuron", f"readout model {model.name} does not say which variable is its 'output'")
    parameters = dict(model.parameters)
    for pname, value in (entry.get("parameters") or {}).items():
        if pname not in model.parameters:
            raise doc.error(
                f"{key}.parameters.{pname}",
                f"'{pname}' is not a parameter of {model.name}",
                ", ".join(sorted(model.parameters)) or "none",
            )
        parameters[pname] = doc.quantity(value, f"{key}.parameters.{pname}", like=model.parameters[pname])
    initial = dict(model.initial)
    for vname, value in (entry.get("initial") or {}).items():
        initial[vname] = doc.quantity(value, f"{key}.initial.{vname}")
    refractory = model.refractory
    if entry.get("refractory") is not None:
        refractory = doc.quantity(entry["refractory"], f"{key}.refractory", like=brian2.ms)
    if refractory is not None and model.threshold is None:
        raise doc.error(f"{key}.refractory", "a refractory period needs a threshold")
    if entry.get("parameters") or entry.get("refractory") is not None:
        check_with_brian(doc, model, parameters, refractory, key_prefix=key)
    return Population(
        name=name,
        size=_positive_int(doc, entry.get("size"), f"{key}.size"),
        model=model,
        parameters=parameters,
        initial=initial,
        refractory=refractory,
        dt=dt,
        readout=readout,
    )


def _apply_dale(doc, dale, inputs, populations, seed):
    """Dale's law signs: a fraction of excitatory neurons, inhibitory ones in one population.

    As in the paper's code: inputs get shuffled signs; in the recurrent network
    the inhibitory neurons are the first ones of ``inhibitory_in``.
    """
    if dale is None:
        return
    doc.check_keys(dale, {"excitatory_fraction", "inhibitory_in"}, "dale")
    fraction = float(dale.get("excitatory_fraction", 0.75))
    if not 0 < fraction <= 1:
        raise doc.error("dale.excitatory_fraction", f"{fraction} is not in (0, 1]")
    host = dale.get("inhibitory_in")
    recurrent = [p for p in populations.values() if not p.readout]
    if host not in {p.name for p in recurrent}:
        raise doc.error(
            "dale.inhibitory_in", f"'{host}' is not a recurrent population", ", ".join(p.name for p in recurrent)
        )
    rng = seeds.generator(seed, "dale_signs")
    for group in inputs.values():
        n_exc = int(fraction * group.size) + 1 if fraction < 1 else group.size
        signs = np.where(np.arange(group.size) < n_exc, 1, -1)
        group.signs = rng.permutation(signs).astype(np.int8)
    n_total = sum(p.size for p in recurrent)
    n_inh = n_total - (int(fraction * n_total) + 1 if fraction < 1 else n_total)
    if n_inh > populations[host].size:
        raise doc.error(
            "dale.inhibitory_in", f"{n_inh} inhibitory neurons do not fit in '{host}' ({populations[host].size})"
        )
    for population in recurrent:
        signs = np.ones(population.size, dtype=np.int8)
        if population.name == host:
            signs[:n_inh] = -1
        population.signs = signs


def _projection(doc, name, entry, inputs, populations, dt):
    """A ``projections`` entry, validated into the names and SI numbers initialisation draws from."""
    key = f"projections.{name}"
    doc.check_keys(entry, PROJECTION_KEYS, key)
    spiking = {**inputs, **{n: p for n, p in populations.items() if not p.readout}}
    sources = _names(doc, entry.get("source"), f"{key}.source", spiking)
    targets = _names(doc, entry.get("target"), f"{key}.target", populations)
    connectivity = entry.get("connectivity", 1.0)
    if isinstance(connectivity, bool) or not isinstance(connectivity, (int, float)) or not 0 < connectivity <= 1:
        raise doc.error(f"{key}.connectivity", f"{connectivity!r} is not a fraction in (0, 1]", "e.g. 0.12")
    autapses = entry.get("autapses", False)
    if not isinstance(autapses, bool):
        raise doc.error(f"{key}.autapses", f"expected true or false, got {autapses!r}")
    synapses = {t: _synapse(doc, entry.get("synapse"), f"{key}.synapse", populations[t]) for t in targets}
    groups = {**inputs, **populations}
    signed = all(groups[s].signs is not None for s in sources)

    weights = entry.get("weights") or {}
    doc.check_keys(weights, {"init", "scale"}, f"{key}.weights")
    init = weights.get("init", "normal")
    if init not in INITS:
        raise doc.error(f"{key}.weights.init", f"unknown initialisation '{init}'", ", ".join(INITS))
    if init == "balanced_signed" and not signed:
        raise doc.error(f"{key}.weights.init", "'balanced_signed' needs Dale's law signs (a top-level 'dale' section)")
    scale = 1.0
    if "scale" in weights:  # in the unit of the weight of the synapse each target resolved to
        for target in targets:
            q = doc.quantity(weights["scale"], f"{key}.weights.scale", like=synapses[target].w_unit)
        scale = float(np.asarray(q))

    delay, delay_range = 0, None
    value = entry.get("delay", "0 ms")
    if isinstance(value, dict):
        doc.check_keys(value, {"uniform"}, f"{key}.delay")
        bounds = value.get("uniform")
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise doc.error(f"{key}.delay.uniform", "expected [low, high]", "e.g. [1 ms, 10 ms]")
        delay_range = tuple(_steps(doc, b, f"{key}.delay.uniform", dt) for b in bounds)
        if delay_range[1] < delay_range[0]:
            raise doc.error(f"{key}.delay.uniform", f"high {bounds[1]} is below low {bounds[0]}")
    else:
        delay = _steps(doc, value, f"{key}.delay", dt)

    sign = entry.get("sign", "free")
    if sign not in SIGN_MODES:
        raise doc.error(f"{key}.sign", f"unknown sign mode '{sign}'", ", ".join(SIGN_MODES))
    if sign == "dale" and not signed:
        unsigned = next(s for s in sources if groups[s].signs is None)
        raise doc.error(
            f"{key}.sign", f"'dale' signs need a top-level 'dale' section (source '{unsigned}' has no signs)"
        )
    return ProjectionEntry(
        name=name,
        sources=tuple(sources),
        targets=tuple(targets),
        synapses=synapses,
        connectivity=float(connectivity),
        autapses=autapses,
        init=init,
        scale=scale,
        delay=delay,
        delay_range=delay_range,
        sign=sign,
    )


def _names(doc, value, key, allowed):
    names = [value] if isinstance(value, str) else value
    if not names or not isinstance(names, list):
        raise doc.error(key, "missing", "a name or a list of names: " + ", ".join(allowed))
    for name in names:
        if name not in allowed:
            raise doc.error(key, f"'{name}' is not defined here", ", ".join(allowed))
    return names


def _steps(doc, value, key, dt):
    q = doc.quantity(value, key, like=brian2.ms)
    steps = float(q / dt)
    if steps < 0 or abs(steps - round(steps)) > 1e-9:
        raise doc.error(key, f"delay {q} is not a non-negative whole number of time steps ({dt})", "multiples of dt")
    return int(round(steps))


def _synapse(doc, override, key, target):
    """The projection's own synapse model, Brian2-checked against ``target``, else the target's default."""
    if override is None:
        if target.model.synapse is None:
            raise doc.error(
                key,
                f"target '{target.name}' ({target.model.name}) defines no synapse; give one here",
                "{model, on_pre}",
            )
        return target.model.synapse
    doc.check_keys(override, SYNAPSE_KEYS, key)
    synapse = SynapseModel(model=str(override.get("model", "w : 1")), on_pre=str(override.get("on_pre", "")))
    check_synapse_with_brian(doc, key, synapse, target)
    return synapse

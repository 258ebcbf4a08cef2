"""Load and validate model documents (YAML with Brian2 equations and units).

A *neuron document* (``models/lif.yaml``) describes one neuron type; a *network
document* (``models/lsnn_smnist.yaml``) assembles populations, inputs,
projections and readouts from neuron documents. Loading never executes code:
YAML is read with ``safe_load``, quantities with a whitelisted parser, and
equations are handed to Brian2's own parser, which also checks their units.
Every problem is reported with the file, the key (and line) and what would be
accepted.
"""

from pathlib import Path

import brian2
import numpy as np
import yaml
from brian2.units.fundamentalunits import DimensionMismatchError, get_dimensions

from . import brian_probes, seeds
from .errors import DocumentError
from .initialisation import INITS, SIGN_MODES, ProjectionEntry, initialise_projections
from .spec import InputGroup, NetworkSpec, NeuronModel, Population, SynapseModel
from .units import describe_dimensions, parse_quantity

NEURON_KEYS = {
    "neuron": "name of the neuron type",
    "description": "free text",
    "relation_to_paper": "free text",
    "equations": "Brian2 model equations",
    "threshold": "Brian2 threshold condition, or null for a readout",
    "reset": "Brian2 reset statements",
    "refractory": "a time such as '3 ms'",
    "method": "a Brian2 integration method (exact, euler, exponential_euler, ...)",
    "parameters": "mapping of shared constants to quantities",
    "initial": "mapping of variables to initial quantities",
    "synapse": "mapping with 'model' and 'on_pre'",
    "output": "the variable a readout reports",
    "schedule": "when the threshold/reset/update run in a time step, e.g. {threshold: start}",
}
SCHEDULE_RUNNERS = ("update", "threshold", "reset")
SCHEDULE_SLOTS = ("start", "groups", "thresholds", "synapses", "resets", "end")  # Brian2's default schedule
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
SYNAPSE_KEYS = {"model", "on_pre"}


class _Document:
    """The parsed YAML plus a way to point at the line of a key.

    ``text`` is given for a document held in memory (a checkpoint's); ``path`` then only names it.
    """

    def __init__(self, path, expected_top_key, text=None):
        self.path = Path(path)
        if text is None:
            if not self.path.is_file():
                raise DocumentError(str(path), None, "file not found", "a path to a .yaml document")
            text = self.path.read_text()
        self.text = text
        try:
            self.data = yaml.safe_load(self.text)
            self.root = yaml.compose(self.text)
        except yaml.YAMLError as error:
            raise DocumentError(str(path), None, f"not valid YAML: {error}") from None
        if not isinstance(self.data, dict) or expected_top_key not in self.data:
            raise DocumentError(str(path), None, f"expected a mapping with a top-level '{expected_top_key}' key")

    def where(self, key):
        """'file:line' for a dotted key path, as precise as the document allows."""
        node, line = self.root, None
        for part in key.split(".") if key else []:
            if not isinstance(node, yaml.MappingNode):
                break
            for k, v in node.value:
                if k.value == part:
                    node, line = v, k.start_mark.line + 1
                    break
            else:
                break
        return f"{self.path}:{line}" if line else str(self.path)

    def error(self, key, problem, accepted=None):
        return DocumentError(self.where(key), key, problem, accepted)

    def check_keys(self, mapping, allowed, key_prefix):
        if not isinstance(mapping, dict):
            raise self.error(key_prefix, f"expected a mapping, got {type(mapping).__name__}")
        for key in mapping:
            if key not in allowed:
                full = f"{key_prefix}.{key}" if key_prefix else key
                raise self.error(full, f"unknown key '{key}'", ", ".join(sorted(allowed)))

    def quantity(self, value, key, like=None):
        try:
            q = parse_quantity(value)
        except ValueError as error:
            raise self.error(key, str(error), "a number with Brian2 units such as '20 ms'") from None
        if like is not None and get_dimensions(q) is not get_dimensions(like):
            raise self.error(
                key,
                f"'{value}' has units {describe_dimensions(q)}, expected {describe_dimensions(like)}",
                f"a quantity like {like}",
            )
        return q


# --------------------------------------------------------------------------- neurons


def load_neuron(path, text=None):
    """Read and validate a neuron document (``text``: its content, if held in memory); Brian2 parses and unit-checks it."""
    doc = _Document(path, "neuron", text)
    data = doc.data
    doc.check_keys(data, NEURON_KEYS, "")
    if not isinstance(data.get("equations"), str):
        raise doc.error("equations", "missing or not a string", "Brian2 equations such as 'dv/dt = -v/tau : volt'")
    parameters = {
        name: doc.quantity(value, f"parameters.{name}") for name, value in (data.get("parameters") or {}).items()
    }
    initial = {name: doc.quantity(value, f"initial.{name}") for name, value in (data.get("initial") or {}).items()}
    synapse = None
    if data.get("synapse") is not None:
        doc.check_keys(data["synapse"], SYNAPSE_KEYS, "synapse")
        synapse = SynapseModel(
            model=str(data["synapse"].get("model", "w : 1")), on_pre=str(data["synapse"].get("on_pre", ""))
        )
    refractory = None
    if data.get("refractory") is not None:
        refractory = doc.quantity(data["refractory"], "refractory", like=brian2.ms)
    model = NeuronModel(
        name=str(data["neuron"]),
        equations=data["equations"],
        threshold=data.get("threshold"),
        reset=data.get("reset"),
        method=data.get("method"),
        parameters=parameters,
        initial=initial,
        refractory=refractory,
        synapse=synapse,
        output=data.get("output"),
        schedule=_schedule(doc, data.get("schedule")),
        source=str(doc.path),
    )
    _check_with_brian(doc, model)
    return model


def _schedule(doc, schedule):
    """``{threshold: start}`` or ``{threshold: {when: start, order: 1}}`` -> {runner: (when, order)}."""
    if schedule is None:
        return {}
    doc.check_keys(schedule, SCHEDULE_RUNNERS, "schedule")
    slots = [f"{prefix}{slot}" for slot in SCHEDULE_SLOTS for prefix in ("before_", "", "after_")]
    result = {}
    for runner, value in schedule.items():
        key = f"schedule.{runner}"
        when, order = (value, 0) if not isinstance(value, dict) else (value.get("when"), value.get("order", 0))
        if isinstance(value, dict):
            doc.check_keys(value, {"when", "order"}, key)
        if when not in slots:
            raise doc.error(key, f"'{when}' is not a slot of Brian2's schedule", ", ".join(slots))
        if isinstance(order, bool) or not isinstance(order, int):
            raise doc.error(f"{key}.order", f"expected a whole number, got {order!r}", "e.g. 0 or -1")
        result[runner] = (when, order)
    return result


def _check_with_brian(doc, model, parameters=None, refractory=None, key_prefix=""):
    """Build a 2-neuron probe group (and a probe synapse) and let Brian2 judge it."""
    population = Population(
        name="probe",
        size=2,
        model=model,
        parameters=parameters if parameters is not None else model.parameters,
        initial={},
        refractory=refractory if refractory is not None else model.refractory,
        dt=0.1 * brian2.ms,
    )
    prefix = f"{key_prefix}." if key_prefix else ""
    with brian_probes.runtime_device():
        try:
            group = brian_probes.neuron_group(population, name="probe")
        except Exception as error:  # Brian2 raises several types for bad equations
            raise doc.error(f"{prefix}equations", _brian_message(error)) from None
        objects = [group]
        if model.synapse is not None:
            try:
                source = brian2.NeuronGroup(1, "", threshold="False", reset="", name="probe_source")
                synapses = brian_probes.synapses(model.synapse, source, group, population.parameters, "probe_synapse")
                synapses.connect(i=0, j=1)
            except Exception as error:
                raise doc.error(f"{prefix}synapse", _brian_message(error)) from None
            objects += [source, synapses]
        try:
            brian_probes.dry_run(*objects)
        except Exception as error:
            raise doc.error(_failing_key(error, prefix), _brian_message(error)) from None


def _failing_key(error, prefix):
    text = str(error)
    for marker, key in (
        ("resetter", "reset"),
        ("thresholder", "threshold"),
        ("probe_synapse", "synapse.on_pre"),
    ):
        if marker in text:
            return prefix + key
    return prefix + "equations"


def _brian_message(error):
    cause = error.__cause__ or error
    if isinstance(cause, DimensionMismatchError):
        return f"unit mismatch: {cause}"
    message = str(cause).strip().replace("\n", " ")
    return f"Brian2 rejects it: {message}"


# --------------------------------------------------------------------------- networks


def load_network(path, seed=0, overrides=None, documents=None):
    """Read a network document and build its NetworkSpec with weights drawn from ``seed``.

    ``overrides`` is a nested mapping merged into the document first (an
    experiment's ``network_overrides``, e.g. ``{populations: {ALIF: {parameters:
    {beta: 0 V}}}}``); it is validated like the document itself. ``documents``
    ({file name: text}, a checkpoint's) are read instead of files: every document,
    the network's and its neurons', is then found by its file name alone.
    """
    stored = None if documents is None else dict(documents)
    doc = _Document(path, "network", _stored_text(stored, path, None))
    data = doc.data = _merge(doc.data, overrides or {})
    doc.check_keys(data, NETWORK_KEYS, "")
    if "dt" not in data:
        raise doc.error("dt", "missing time step", "e.g. 'dt: 1 ms'")
    dt = doc.quantity(data["dt"], "dt", like=brian2.ms)
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
        text = neuron_path.read_text()
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
        _check_with_brian(doc, model, parameters, refractory, key_prefix=key)
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
    _check_synapse_with_brian(doc, key, synapse, target)
    return synapse


def _check_synapse_with_brian(doc, key, synapse, population):
    """Let Brian2 judge a projection's own synapse model on a probe of its target population."""
    with brian_probes.runtime_device():
        group = brian_probes.neuron_group(population, size=2, name="probe")
        try:
            source = brian2.NeuronGroup(1, "", threshold="False", reset="", name="probe_source")
            synapses = brian_probes.synapses(synapse, source, group, population.parameters, "probe_synapse")
            synapses.connect(i=0, j=1)
            brian_probes.dry_run(group, source, synapses)
        except Exception as error:  # Brian2 raises several types for bad equations
            raise doc.error(key, _brian_message(error)) from None

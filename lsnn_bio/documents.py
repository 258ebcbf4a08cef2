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

from . import equations as brian_equations
from . import seeds
from .errors import DocumentError
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
    """The parsed YAML plus a way to point at the line of a key."""

    def __init__(self, path, expected_top_key):
        self.path = Path(path)
        if not self.path.is_file():
            raise DocumentError(str(path), None, "file not found", "a path to a .yaml document")
        self.text = self.path.read_text()
        try:
            self.data = yaml.safe_load(self.text)
            self.root = yaml.compose(self.text)
        except yaml.YAMLError as error:
            raise DocumentError(str(path), None, f"not valid YAML: {error}") from None
        if not isinstance(self.data, dict) or expected_top_key not in self.data:
            raise DocumentError(
                str(path), None, f"expected a mapping with a top-level '{expected_top_key}' key"
            )

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


def load_neuron(path):
    """Read and validate a neuron document; Brian2 parses and unit-checks it."""
    doc = _Document(path, "neuron")
    data = doc.data
    doc.check_keys(data, NEURON_KEYS, "")
    if not isinstance(data.get("equations"), str):
        raise doc.error("equations", "missing or not a string", "Brian2 equations such as 'dv/dt = -v/tau : volt'")
    parameters = {
        name: doc.quantity(value, f"parameters.{name}")
        for name, value in (data.get("parameters") or {}).items()
    }
    initial = {
        name: doc.quantity(value, f"initial.{name}") for name, value in (data.get("initial") or {}).items()
    }
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
    with brian_equations.runtime_device():
        try:
            group = brian_equations.neuron_group(population, name="probe")
        except Exception as error:  # Brian2 raises several types for bad equations
            raise doc.error(f"{prefix}equations", _brian_message(error)) from None
        objects = [group]
        if model.synapse is not None:
            try:
                source = brian2.NeuronGroup(1, "", threshold="False", reset="", name="probe_source")
                synapses = brian2.Synapses(
                    source, group, model.synapse.model, on_pre=model.synapse.on_pre,
                    namespace=dict(population.parameters), name="probe_synapse",
                )
                synapses.connect(i=0, j=1)
            except Exception as error:
                raise doc.error(f"{prefix}synapse", _brian_message(error)) from None
            objects += [source, synapses]
        try:
            brian_equations.dry_run(*objects)
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


def load_network(path, seed=0, overrides=None):
    """Read a network document and build its NetworkSpec with weights drawn from ``seed``.

    ``overrides`` is a nested mapping merged into the document first (an
    experiment's ``network_overrides``, e.g. ``{populations: {ALIF: {parameters:
    {beta: 0 V}}}}``); it is validated like the document itself.
    """
    from .initialisation import initialise_projections

    doc = _Document(path, "network")
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
            populations[name] = _population(doc, f"{section}.{name}", name, entry, dt, readout, documents)
    if not populations:
        raise doc.error("populations", "the network has no populations")

    _apply_dale(doc, data.get("dale"), inputs, populations, seed)
    projections = initialise_projections(doc, data.get("projections") or {}, inputs, populations, dt, seed)
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


def _population(doc, key, name, entry, dt, readout, documents):
    doc.check_keys(entry, POPULATION_KEYS, key)
    if "neuron" not in entry:
        raise doc.error(f"{key}.neuron", "missing neuron document", "a path such as 'lif.yaml'")
    neuron_path = doc.path.parent / str(entry["neuron"])
    if not neuron_path.is_file():
        raise doc.error(f"{key}.neuron", f"neuron document '{neuron_path}' not found", "a path relative to this file")
    model = load_neuron(neuron_path)
    documents[neuron_path.name] = neuron_path.read_text()
    if readout and model.threshold is not None:
        raise doc.error(f"{key}.neuron", f"readout '{name}' uses a spiking neuron ({model.name})", "a thresholdless model")
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
        raise doc.error("dale.inhibitory_in", f"'{host}' is not a recurrent population", ", ".join(p.name for p in recurrent))
    rng = seeds.generator(seed, "dale_signs")
    for group in inputs.values():
        n_exc = int(fraction * group.size) + 1 if fraction < 1 else group.size
        signs = np.where(np.arange(group.size) < n_exc, 1, -1)
        group.signs = rng.permutation(signs).astype(np.int8)
    n_total = sum(p.size for p in recurrent)
    n_inh = n_total - (int(fraction * n_total) + 1 if fraction < 1 else n_total)
    if n_inh > populations[host].size:
        raise doc.error("dale.inhibitory_in", f"{n_inh} inhibitory neurons do not fit in '{host}' ({populations[host].size})")
    for population in recurrent:
        signs = np.ones(population.size, dtype=np.int8)
        if population.name == host:
            signs[:n_inh] = -1
        population.signs = signs

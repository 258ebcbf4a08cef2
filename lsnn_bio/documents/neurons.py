"""Neuron documents: one neuron type as Brian2 equations with units, judged by Brian2 itself.

Brian2 builds a 2-neuron probe group (and a probe synapse) of every model off-device and
dry-runs it, so a document is accepted exactly when Brian2 would simulate it; its
message is passed on with the document's file, line and key.
"""

import pickle

import brian2
from brian2.units.fundamentalunits import DimensionMismatchError

from .. import brian_probes
from ..spec import NeuronModel, Population, SynapseModel
from .source import Document

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
SYNAPSE_KEYS = {"model", "on_pre"}


def load_neuron(path, text=None):
    """Read and validate a neuron document (``text``: its content, if held in memory); Brian2 parses and unit-checks it."""
    doc = Document(path, "neuron", text)
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
    check_with_brian(doc, model)
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


_ACCEPTED = set()  # what Brian2 accepted in this process: a document loaded again is not probed again (~0.25 s each)


def _shown(*parts):
    """Bytes that stand for everything a probe shows Brian2; None (judge every time) if they cannot be pickled."""
    try:
        return pickle.dumps(parts)
    except Exception:
        return None


def _accept(shown):
    if shown is not None:
        _ACCEPTED.add(shown)


def check_with_brian(doc, model, parameters=None, refractory=None, key_prefix=""):
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
    shown = _shown(model, population.parameters, population.refractory)
    if shown is not None and shown in _ACCEPTED:
        return
    prefix = f"{key_prefix}." if key_prefix else ""
    with brian_probes.runtime_device():
        try:
            group = brian_probes.neuron_group(population, name="probe")
        except Exception as error:  # Brian2 raises several types for bad equations
            raise doc.error(f"{prefix}equations", brian_message(error)) from None
        objects = [group]
        if model.synapse is not None:
            try:
                source = brian2.NeuronGroup(1, "", threshold="False", reset="", name="probe_source")
                synapses = brian_probes.synapses(model.synapse, source, group, population.parameters, "probe_synapse")
                synapses.connect(i=0, j=1)
            except Exception as error:
                raise doc.error(f"{prefix}synapse", brian_message(error)) from None
            objects += [source, synapses]
        try:
            brian_probes.dry_run(*objects)
        except Exception as error:
            raise doc.error(_failing_key(error, prefix), brian_message(error)) from None
    _accept(shown)


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


def brian_message(error):
    cause = error.__cause__ or error
    if isinstance(cause, DimensionMismatchError):
        return f"unit mismatch: {cause}"
    message = str(cause).strip().replace("\n", " ")
    return f"Brian2 rejects it: {message}"


def check_synapse_with_brian(doc, key, synapse, population):
    """Let Brian2 judge a projection's own synapse model on a probe of its target population."""
    shown = _shown("synapse", synapse, population)
    if shown is not None and shown in _ACCEPTED:
        return
    with brian_probes.runtime_device():
        group = brian_probes.neuron_group(population, size=2, name="probe")
        try:
            source = brian2.NeuronGroup(1, "", threshold="False", reset="", name="probe_source")
            synapses = brian_probes.synapses(synapse, source, group, population.parameters, "probe_synapse")
            synapses.connect(i=0, j=1)
            brian_probes.dry_run(group, source, synapses)
        except Exception as error:  # Brian2 raises several types for bad equations
            raise doc.error(key, brian_message(error)) from None
    _accept(shown)

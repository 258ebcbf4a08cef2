"""Brian2 as the equation parser: probe groups built off-device, and the abstract code Brian2 makes of them.

Both the document loader (to validate equations, units and constructs) and the
twin compiler (to translate Brian2's own integration and threshold/reset code)
need Brian2 objects that are never simulated. They are built here, on Brian2's
runtime device whatever device is active, so a standalone project being built
in the same process is never touched.
"""

import contextlib
import importlib
from dataclasses import dataclass

import brian2
import numpy as np
from brian2.codegen.translation import analyse_identifiers, make_statements

# The module itself: ``brian2.devices.device`` as an attribute is a proxy to the active device.
_device_module = importlib.import_module("brian2.devices.device")


@contextlib.contextmanager
def runtime_device():
    """Temporarily make Brian2's runtime (numpy) device the active one."""
    previous = _device_module.active_device
    previous_target = brian2.prefs.codegen.target
    _device_module.active_device = _device_module.runtime_device
    brian2.prefs.codegen.target = "numpy"
    try:
        yield
    finally:
        _device_module.active_device = previous
        brian2.prefs.codegen.target = previous_target


def neuron_group(population, size=None, name=None, clock=None):
    """A Brian2 NeuronGroup for a spec population, with the model's schedule (``when``/``order``) applied.

    ``clock``: a Brian2 Clock of the population's ``dt`` to share (else the group gets its own).
    """
    kwargs = population.neurongroup_kwargs()
    if clock is not None:
        del kwargs["dt"]
        kwargs["clock"] = clock
    group = brian2.NeuronGroup(size or population.size, name=name, **kwargs)
    for runner, (when, order) in population.model.schedule.items():
        objects = {"threshold": group.thresholder, "reset": group.resetter}.get(runner)
        target = group.state_updater if runner == "update" else (objects or {}).get("spike")
        if target is not None:
            target.when, target.order = when, order
    return group


def synapses(model, source, target, namespace, name, **kwargs):
    """The Brian2 Synapses of a ``SynapseModel`` (not yet connected): the only place any are made.

    The document loader's probes, the twin's and the simulated network all build theirs here,
    so the three can never disagree on how a synapse model becomes Brian2 code.
    """
    return brian2.Synapses(
        source, target, model.model, on_pre=model.on_pre, namespace=dict(namespace), name=name, **kwargs
    )


@dataclass
class ProbeNetwork:
    """The never-simulated Brian2 objects of a spec, from which the twin reads Brian2's code and schedule."""

    groups: dict  # input and population name -> NeuronGroup
    synapses: dict  # projection name -> Synapses
    sorted_runners: list  # Brian2's code runners in its schedule order (when, order, name)


def probe_network(spec):
    """The Brian2 objects of ``spec``, named as the Brian2 builder names them, never simulated.

    Brian2 itself then says in which order its code runners execute in a time
    step (``Network.sorted_objects``), which is the order the twin follows.
    """
    groups = {
        name: brian2.NeuronGroup(group.size, "", threshold="False", reset="", name=name)
        for name, group in spec.inputs.items()
    }
    for population in spec.populations.values():
        groups[population.name] = neuron_group(population, name=population.name)
    connections = {
        p.name: synapses(p.synapse, groups[p.source], groups[p.target], spec.populations[p.target].parameters, p.name)
        for p in spec.projections
    }
    network = brian2.Network(list(groups.values()) + list(connections.values()))
    objects = network.sorted_objects
    for obj in objects:  # never run on purpose: spare the user Brian2's "never included in a network" warning
        obj._network = "lsnn_bio probe"
    runners = [obj for obj in objects if isinstance(obj, brian2.CodeRunner)]
    return ProbeNetwork(groups=groups, synapses=connections, sorted_runners=runners)


def statements(runner, group):
    """Brian2's own (scalar, vector) Statement lists for a code runner of ``group``.

    This is exactly what Brian2's code generators translate, loop-invariant
    optimisation included, so the twin evaluates the same operations in the same
    order as Brian2's numpy target.
    """
    runner.update_abstract_code(run_namespace={})
    return code_statements(runner.abstract_code, group)


def code_statements(code, group):
    """Statements for any abstract code on ``group`` (e.g. ``_out = out`` for a subexpression)."""
    _, used_known, unknown = analyse_identifiers(code, group.variables, recursive=True)
    variables = group.resolve_all(sorted(used_known | unknown), run_namespace={})
    scalar, vector = make_statements(code, variables, np.float64, optimise=True)
    return scalar, vector, variables


def dry_run(*objects):
    """Let Brian2 check units and generate (numpy) code without simulating a step."""
    with runtime_device():
        brian2.Network(*objects).run(0 * brian2.ms, namespace={})

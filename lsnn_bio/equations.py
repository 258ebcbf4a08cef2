"""Brian2 as the equation parser: probe groups off-device and read their abstract code.

Both the document loader (to validate equations, units and constructs) and the
twin compiler (to translate Brian2's own integration and threshold/reset code)
need Brian2 objects that are never simulated. They are built here, on Brian2's
runtime device whatever device is active, so a standalone project being built
in the same process is never touched.
"""
import contextlib
import importlib

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


def neuron_group(population, size=None, name=None):
    """A Brian2 NeuronGroup for a spec population (or a neuron model plus size)."""
    kwargs = population.neurongroup_kwargs()
    return brian2.NeuronGroup(size or population.size, name=name, **kwargs)


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

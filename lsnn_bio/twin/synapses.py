"""What one spike through a projection does to its target: Brian2's ``on_pre`` as ``x_post += c * w``.

The twin delivers spikes as weighted sums, so it accepts exactly the synaptic
effects that are linear in the weight: one statement adding (or subtracting)
``c * w`` to a variable of the target, ``c`` made of constants and postsynaptic
parameters. Brian2 gives the statement (its loop invariants folded here, in
float64, as its numpy target folds them); sympy proves the linearity.
"""

import ast
from dataclasses import dataclass

import numpy as np
import sympy
from brian2.core.variables import Constant
from brian2.equations.equations import PARAMETER, Equations
from brian2.parsing.sympytools import str_to_sympy, sympy_to_str

from .. import brian_probes
from ..errors import UnsupportedConstruct
from .expressions import Scope, translate


@dataclass
class SynapticEffect:
    """``target_var += coefficient * w`` for each spike arriving through a projection."""

    projection: str
    source: str
    target: str
    variable: str
    coefficient: np.ndarray  # per postsynaptic neuron, SI
    same_step: bool  # some potential synapse has delay 0 (acts inside the step)
    delayed: bool  # some potential synapse has delay >= 1 (arrives through ``drive``)
    from_input: bool


def synaptic_effect(projection, spec, objects, populations, dt):
    where = f"projection '{projection.name}' (on_pre '{projection.synapse.on_pre}')"
    synapse_eqs = Equations(projection.synapse.model)
    weight = projection.synapse.weight
    if set(synapse_eqs.names) != {weight} or synapse_eqs[weight].type != PARAMETER:
        raise UnsupportedConstruct(
            f"{where}: the synapse model '{projection.synapse.model}' must declare only the weight, e.g. 'w : volt' "
            "(synaptic state variables and plasticity are not supported by the twin)"
        )
    synapses = objects.synapses[projection.name]
    scalar, vector, variables = brian_probes.statements(synapses.pre, synapses)
    if len(vector) != 1 or vector[0].op not in ("+=", "-="):
        raise UnsupportedConstruct(f"{where}: on_pre must be one statement 'x_post += c*w' (or -=)")
    statement = vector[0]
    variable = variables[statement.var]
    if not _owned_by(variable, projection.target):
        raise UnsupportedConstruct(
            f"{where}: on_pre must change a variable of the target '{projection.target}', not '{statement.var}'"
        )
    constants = {name: v.get_value() for name, v in variables.items() if isinstance(v, Constant)}
    scope = Scope(constants=dict(constants, dt=dt), where=where)
    for s in scalar:
        scope.constants[s.var] = translate(s.expr, scope).number
    coefficient = _linear_coefficient(statement.expr, weight, where)
    target = spec.populations[projection.target]
    target_code = populations[projection.target]
    env = dict(scope.constants)
    values = {}
    for name in _names(coefficient):
        base = name[: -len("_post")] if name.endswith("_post") else name
        if name in env:
            continue
        if base in target_code.parameters:
            values[name] = np.broadcast_to(target_code.initial[base], (target.size,)).astype(np.float64)
        else:
            raise UnsupportedConstruct(
                f"{where}: the factor '{coefficient}' of the weight may use constants and "
                f"postsynaptic parameters only, not '{name}'"
            )
    number = _evaluate(coefficient, env, values, target.size)
    if statement.op == "-=":
        number = -number
    delays = projection.potential_delay if projection.potential_delay is not None else projection.delay
    delays = np.asarray(delays)
    from_input = projection.source in spec.inputs
    return SynapticEffect(
        projection=projection.name,
        source=projection.source,
        target=projection.target,
        variable=variable.name,
        coefficient=number,
        same_step=bool((delays == 0).any()) and not from_input,
        delayed=bool((delays > 0).any()),
        from_input=from_input,
    )


def _names(expression):
    return {node.id for node in ast.walk(ast.parse(expression, mode="eval")) if isinstance(node, ast.Name)}


def _evaluate(expression, constants, arrays, size):
    """A coefficient per postsynaptic neuron, folded in float64 like Brian2 (per neuron where it varies)."""
    if not arrays:
        return np.full(size, float(translate(expression, Scope(constants=dict(constants))).number))
    return np.array(
        [
            float(translate(expression, Scope(constants={**constants, **{n: a[j] for n, a in arrays.items()}})).number)
            for j in range(size)
        ]
    )


def _linear_coefficient(expression, weight, where):
    """``c`` such that ``expression == c*w``, or UnsupportedConstruct."""
    expr = str_to_sympy(expression)
    w = sympy.Symbol(weight, real=True)
    expr = expr.subs({s: w for s in expr.free_symbols if s.name == weight})
    coefficient = sympy.diff(expr, w)
    if w in coefficient.free_symbols or sympy.simplify(expr - coefficient * w) != 0:
        raise UnsupportedConstruct(f"{where}: it is not linear in the weight; the twin supports x_post += c*w only")
    return sympy_to_str(coefficient)


def _owned_by(variable, group_name):
    owner = getattr(variable, "owner", None)
    return owner is not None and owner.name == group_name

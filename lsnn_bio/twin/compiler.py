"""Compile a NetworkSpec into executable plans, from Brian2's own abstract code.

For each population Brian2 produces the statements of its state update (with the
integration method it chose), threshold and reset; for each projection the
statements of ``on_pre``. They are turned here into closures (see
``expressions``) grouped in plans that ``step`` executes. Everything outside
the supported class raises ``UnsupportedConstruct`` naming the construct:

* state updates: any method Brian2 applies (exact, euler, exponential_euler, ...),
  subexpressions, shared constants and per-neuron parameters, ``unless refractory``;
* thresholds: one comparison (``>``, ``>=``, ``<``, ``<=``), Brian2's refractory mask;
* resets: any sequence of assignments (``=``, ``+=``, ``-=``, ``*=``, ``/=``);
* ``on_pre``: ``x_post += c*w`` / ``x_post -= c*w`` with ``c`` built from constants
  and postsynaptic parameters; synapse models declaring only ``w``.
"""
import ast
from dataclasses import dataclass, field

import brian2
import numpy as np
import sympy
from brian2.core.functions import timestep as brian_timestep
from brian2.core.variables import ArrayVariable, Constant
from brian2.equations.equations import PARAMETER, Equations
from brian2.parsing.sympytools import str_to_sympy, sympy_to_str

from .. import equations as brian_equations
from ..errors import UnsupportedConstruct
from ..units import to_si
from .expressions import compile_expression, functions_for, names_in

_SPECIAL = {"t", "dt", "t_in_timesteps", "N", "i", "not_refractory", "lastspike"}
_UNSUPPORTED_FLAGS = {"shared", "linked", "constant over dt"}


@dataclass
class Statement:
    var: str
    op: str  # ':=', '=', '+=', '-=', '*=', '/='
    evaluate: object  # closure(env)
    conditional: bool = False  # Brian2's conditional write (``unless refractory``)


@dataclass
class Block:
    """Statements run in order; scalar constants are folded into ``constants``."""

    statements: list
    time_dependent_scalars: list = field(default_factory=list)


@dataclass
class ThresholdPlan:
    setup: Block  # subexpressions the condition needs
    lhs: object
    rhs: object
    strict: bool  # '>' vs '>='
    masks: list  # extra boolean terms (Brian2's ``not_refractory``)


@dataclass
class PopulationPlan:
    name: str
    size: int
    state_vars: list  # variables the code writes: (batch, N) tensors
    parameters: dict  # per-neuron parameters nobody writes: name -> SI array (N,)
    initial: dict  # name -> SI float or array (N,)
    constants: dict  # shared constants and loop invariants: name -> float
    update: Block
    threshold: ThresholdPlan | None
    reset: Block | None
    refractory_steps: int | None
    outputs: dict  # recordable subexpressions: name -> Block computing '_value'
    spiking: bool
    readout: bool
    output: str | None


@dataclass
class ProjectionPlan:
    name: str
    source: str
    target: str
    target_var: str
    coefficient: object  # float or SI array over postsynaptic neurons
    i: np.ndarray
    j: np.ndarray
    w: np.ndarray
    delay: np.ndarray
    sign: np.ndarray


def compile_spec(spec, dtype):
    """Plans for every population and projection of ``spec``."""
    populations, groups = {}, {}
    with brian_equations.runtime_device():
        for population in spec.populations.values():
            groups[population.name] = brian_equations.neuron_group(population, name=f"twin_{population.name}")
            populations[population.name] = _population_plan(population, groups[population.name], spec.dt, dtype)
        projections = [_projection_plan(p, spec, groups, dtype) for p in spec.projections]
    return populations, projections


# --------------------------------------------------------------------------- populations


def _population_plan(population, group, dt, dtype):
    where = f"population '{population.name}' ({population.model.source})"
    eqs = Equations(population.model.equations)
    for eq in eqs.values():
        bad = _UNSUPPORTED_FLAGS & set(eq.flags)
        if bad:
            raise UnsupportedConstruct(f"{where}: the flag '{sorted(bad)[0]}' on '{eq.varname}' is not supported by the twin")
    if eqs.stochastic_variables:
        raise UnsupportedConstruct(f"{where}: stochastic equations (xi) are not supported by the twin yet")

    functions = functions_for(dtype)
    constants = {"dt": to_si(dt)}
    written = set()

    scalar, vector, variables = brian_equations.statements(group.state_updater, group)
    update = _block(scalar, vector, variables, group, constants, functions, where + " state update", written)
    threshold = reset = None
    if population.spiking:
        scalar, vector, variables = brian_equations.statements(group.thresholder["spike"], group)
        threshold = _threshold_plan(scalar, vector, variables, group, constants, functions, where)
        if population.model.reset:
            scalar, vector, variables = brian_equations.statements(group.resetter["spike"], group)
            reset = _block(scalar, vector, variables, group, constants, functions, where + " reset", written)

    outputs = {}
    for name in eqs.subexpr_names | ({population.model.output} if population.model.output else set()):
        scalar, vector, variables = brian_equations.code_statements(f"_value = {name}", group)
        outputs[name] = _block(scalar, vector, variables, group, constants, functions, f"{where} output {name}", set())

    state_vars = sorted(set(eqs.diff_eq_names) | (written & set(eqs.names)))
    per_neuron = sorted(set(eqs.parameter_names) - set(state_vars))
    initial = {}
    for name in state_vars + per_neuron:
        value = population.initial.get(name, 0.0)
        value = to_si(value)
        if np.ndim(value) not in (0, 1) or (np.ndim(value) == 1 and len(value) != population.size):
            raise UnsupportedConstruct(f"{where}: initial value of '{name}' must be a scalar or {population.size} values")
        initial[name] = value
    refractory_steps = None
    if population.refractory is not None:
        refractory_steps = int(brian_timestep(to_si(population.refractory), to_si(dt)))
    return PopulationPlan(
        name=population.name,
        size=population.size,
        state_vars=state_vars,
        parameters={name: np.broadcast_to(initial.pop(name), (population.size,)).astype(np.float64) for name in per_neuron},
        initial=initial,
        constants=constants,
        update=update,
        threshold=threshold,
        reset=reset,
        refractory_steps=refractory_steps,
        outputs=outputs,
        spiking=population.spiking,
        readout=population.readout,
        output=population.model.output,
    )


def _block(scalar, vector, variables, group, constants, functions, where, written):
    """Fold scalar statements into constants (numpy, as Brian2 does) and compile vector ones."""
    _collect_constants(variables, group, constants, where)
    time_dependent = []
    numpy_functions = functions_for(None)
    for statement in scalar:
        if names_in(statement.expr) & {"t", "t_in_timesteps"}:
            time_dependent.append((statement.var, compile_expression(statement.expr, functions, where)))
        else:
            value = compile_expression(statement.expr, numpy_functions, where)(constants)
            constants[statement.var] = float(value)
    compiled = []
    for statement in vector:
        if statement.var == "not_refractory" and statement.op == "=":
            continue  # Brian2's refractory bookkeeping: the twin keeps an integer step counter
        if statement.var == "lastspike":
            raise UnsupportedConstruct(f"{where}: code writing 'lastspike' is not supported by the twin")
        if statement.op not in (":=", "=", "+=", "-=", "*=", "/="):
            raise UnsupportedConstruct(f"{where}: the operation '{statement.op}' in '{statement}' is not supported")
        variable = variables.get(statement.var)
        conditional = getattr(variable, "conditional_write", None) is not None
        if statement.op != ":=":
            written.add(statement.var)
        compiled.append(Statement(statement.var, statement.op, compile_expression(statement.expr, functions, where), conditional))
    return Block(compiled, time_dependent)


def _collect_constants(variables, group, constants, where):
    for name, variable in variables.items():
        if isinstance(variable, Constant) and name not in constants:
            value = variable.get_value()
            if not isinstance(value, (bool, np.bool_)):
                constants[name] = float(value)
        elif isinstance(variable, ArrayVariable) and name not in _SPECIAL and not _owned_by(variable, group):
            raise UnsupportedConstruct(f"{where}: '{name}' refers to another group's variable, which the twin does not support")


def _owned_by(variable, group):
    owner = getattr(variable, "owner", None)
    return owner is not None and owner.name == group.name


def _threshold_plan(scalar, vector, variables, group, constants, functions, where):
    setup = _block(scalar, vector[:-1], variables, group, constants, functions, where + " threshold", set())
    condition = vector[-1]
    tree = ast.parse(condition.expr, mode="eval").body
    terms = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
    comparisons = [t for t in terms if isinstance(t, ast.Compare)]
    if len(comparisons) != 1 or len(comparisons[0].ops) != 1:
        raise UnsupportedConstruct(
            f"{where}: threshold '{group.events['spike']}' must be a single comparison such as 'v > v_th' "
            "(optionally combined with 'and' boolean terms)"
        )
    compare = comparisons[0]
    op = type(compare.ops[0])
    lhs, rhs = ast.unparse(compare.left), ast.unparse(compare.comparators[0])
    if op in (ast.Lt, ast.LtE):
        lhs, rhs = rhs, lhs
    elif op not in (ast.Gt, ast.GtE):
        raise UnsupportedConstruct(f"{where}: threshold comparison '{ast.unparse(compare)}' must use >, >=, < or <=")
    masks = [compile_expression(ast.unparse(t), functions, where) for t in terms if t is not compare]
    return ThresholdPlan(
        setup=setup,
        lhs=compile_expression(lhs, functions, where),
        rhs=compile_expression(rhs, functions, where),
        strict=op in (ast.Gt, ast.Lt),
        masks=masks,
    )


# --------------------------------------------------------------------------- projections


def _projection_plan(projection, spec, groups, dtype):
    where = f"projection '{projection.name}' (on_pre '{projection.synapse.on_pre}')"
    synapse_eqs = Equations(projection.synapse.model)
    weight = projection.synapse.weight
    if set(synapse_eqs.names) != {weight} or synapse_eqs[weight].type != PARAMETER:
        raise UnsupportedConstruct(
            f"{where}: the synapse model '{projection.synapse.model}' must declare only the weight "
            "parameter, e.g. 'w : volt' (synaptic state variables and plasticity are not supported by the twin)"
        )
    target = groups[projection.target]
    source_population = spec.populations.get(projection.source)
    source = groups.get(projection.source) if source_population else None
    if source is None:
        source = brian2.NeuronGroup(spec.size_of(projection.source), "", threshold="False", reset="", name=f"twin_in_{projection.source}")
    synapses = brian2.Synapses(
        source, target, projection.synapse.model, on_pre=projection.synapse.on_pre,
        namespace=dict(spec.populations[projection.target].parameters), name=f"twin_syn_{projection.name}",
    )
    scalar, vector, variables = brian_equations.statements(synapses.pre, synapses)
    constants = {"dt": to_si(spec.dt)}
    for name, variable in variables.items():
        if isinstance(variable, Constant):
            constants[name] = float(variable.get_value())
    numpy_functions = functions_for(None)
    for statement in scalar:
        constants[statement.var] = float(compile_expression(statement.expr, numpy_functions, where)(constants))
    if len(vector) != 1 or vector[0].op not in ("+=", "-="):
        raise UnsupportedConstruct(f"{where}: on_pre must be a single 'x_post += c*w' (or -=) statement")
    statement = vector[0]
    variable = variables[statement.var]
    if not _owned_by(variable, target):
        raise UnsupportedConstruct(f"{where}: on_pre must change a postsynaptic variable, not '{statement.var}'")
    coefficient = _linear_coefficient(statement.expr, weight, where)
    post_names = {name: name[: -len("_post")] if name.endswith("_post") else name for name in names_in(coefficient)}
    env = dict(constants)
    for name, post_name in post_names.items():
        if name in env:
            continue
        population = spec.populations[projection.target]
        eqs = Equations(population.model.equations)
        if post_name in eqs.parameter_names:
            env[name] = np.broadcast_to(to_si(population.initial.get(post_name, 0.0)), (population.size,)).astype(np.float64)
        else:
            raise UnsupportedConstruct(
                f"{where}: the factor '{coefficient}' of w may use constants and postsynaptic parameters only, not '{name}'"
            )
    value = compile_expression(coefficient, numpy_functions, where)(env)
    if statement.op == "-=":
        value = -value
    target_var = variable.name
    return ProjectionPlan(
        name=projection.name,
        source=projection.source,
        target=projection.target,
        target_var=target_var,
        coefficient=value,
        i=projection.i,
        j=projection.j,
        w=projection.w,
        delay=projection.delay,
        sign=projection.sign,
    )


def _linear_coefficient(expression, weight, where):
    """``c`` such that ``expression == c*w``, or UnsupportedConstruct."""
    expr = str_to_sympy(expression)
    w = sympy.Symbol(weight, real=True)
    expr = expr.subs({s: w for s in expr.free_symbols if s.name == weight})
    coefficient = sympy.diff(expr, w)
    if w in coefficient.free_symbols or sympy.simplify(expr - coefficient * w) != 0:
        raise UnsupportedConstruct(
            f"{where}: '{expression}' is not linear in the weight w; the twin supports x_post += c*w only"
        )
    return sympy_to_str(coefficient)

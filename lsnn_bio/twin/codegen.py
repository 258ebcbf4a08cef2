"""Generate the torch source of one network time step from Brian2's own code runners.

(Longer than 400 lines on purpose: one generator walking Brian2's runners in order, a
translator per kind of runner sharing the generator's state (scopes, which spikes are
carried), then the assembly of the two variants of the step. The expression translator
and the synaptic effects live apart: ``expressions.py``, ``synapses.py``.)

Brian2 builds each population's state updater, thresholder and resetter and each
projection's synaptic pathway, sorts them by its schedule (``when``, ``order``,
name) and generates code for each from abstract code. The twin does the same:
it asks Brian2 for the objects of the network (never simulated), walks
``Network.sorted_objects`` and translates every runner with the translator for
its kind, its loop invariants folded into that runner's own code. The result is
one pure function

    new_state, outputs = step(state, drive, params, consts, t_steps)

whose source ``Twin.source()`` shows. ``drive`` carries what synapses bring from
outside the step (inputs, delayed spikes: see ``delivery``); delay-0 synapses
from spiking populations act inside it, as in Brian2 where a spike reaches its
target in the same step. Spikes are the exact threshold condition with the
pseudo-derivative of the normalised distance to threshold; a reset keeps
Brian2's value (``where``) and passes the paper's gradient ``v - z*A``.
"""

import ast
import collections
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from brian2.core.variables import ArrayVariable, Constant
from brian2.equations.equations import Equations
from brian2.groups.neurongroup import Resetter, StateUpdater, Thresholder
from brian2.synapses.synapses import SynapticPathway

from .. import brian_probes
from ..errors import UnsupportedConstruct
from ..units import to_si
from .expressions import CONSTANT, SCALAR, VECTOR, Scope, as_number, literal, translate
from .surrogates import PSEUDO_DERIVATIVES
from .synapses import synaptic_effect

NEVER = -1e4  # Brian2's initial ``lastspike`` (seconds): long ago, so nobody starts refractory
_UNSUPPORTED_FLAGS = {"shared", "linked", "constant over dt"}
_STEPS_SINCE_SPIKE = "timestep(t - lastspike, dt)"  # Brian2's refractory test, written in steps here


@dataclass(frozen=True)
class Layout:
    """Field names of what the step takes and returns (each a NamedTuple of tensors)."""

    state: tuple
    drive: tuple  # routes "target__variable" fed from outside the step
    params: tuple  # trained: per-neuron parameters "pop__var", delay-0 weights "w0__projection"
    consts: tuple  # fixed: neuron indices "pop__i"
    spikes: tuple  # spiking populations
    pushed: tuple  # sources whose spikes delayed synapses carry ("pop" -> output "pushed__pop")
    readouts: tuple
    recorded: tuple  # (population, variable)
    discrete: tuple = ()  # state fields no gradient flows through (lastspike, not_refractory)

    @property
    def outputs(self):
        return (
            tuple(f"spikes__{p}" for p in self.spikes)
            + tuple(f"pushed__{p}" for p in self.pushed)
            + tuple(f"readout__{p}" for p in self.readouts)
            + tuple(f"record__{p}__{v}" for p, v in self.recorded)
        )


@dataclass
class PopulationCode:
    """What the generator learned about one population from Brian2."""

    name: str
    size: int
    state: list  # variables the step writes, in a fixed order
    parameters: list  # per-neuron variables nobody writes
    subexpressions: set
    refractory: bool
    spiking: bool
    output: str | None
    initial: dict = field(default_factory=dict)  # name -> SI scalar or (size,) array


@dataclass
class GeneratedStep:
    source: str
    function: object  # step(state, drive, params, consts, t_steps) -> (State, Outputs), differentiable
    values: object  # the same step without its gradient terms (which are exactly 0 forward): for forward passes
    layout: Layout
    populations: dict  # name -> PopulationCode
    effects: list  # SynapticEffect per projection
    types: dict  # "State", "Drive", "Params", "Consts", "Outputs" -> namedtuple class


def generate(spec, record=(), pseudo_derivative="triangle", gamma=0.3, width=1.0, detach_reset=False):
    """The network step of ``spec`` as torch source and a function compiled from it."""
    with brian_probes.runtime_device():
        objects = brian_probes.probe_network(spec)
        generator = _Generator(spec, objects, record, detach_reset)
        generator.run()
    return generator.finish(pseudo_derivative, gamma, width)


class _Generator:
    def __init__(self, spec, objects, record, detach_reset):
        self.spec, self.objects, self.detach_reset = spec, objects, detach_reset
        self.dt = to_si(spec.dt)
        self.record = tuple(record)
        self.lines = []
        self.scopes = []
        self.thresholded = set()  # populations whose thresholder ran earlier in the step
        self.spikes_carried = set()  # populations whose last spikes are read before their threshold: state
        self.populations = {}
        self.effects = []
        self.pushed_sources = []

    # ------------------------------------------------------------------ analysis

    def run(self):
        runners = self.objects.sorted_runners
        for population in self.spec.populations.values():
            self.populations[population.name] = self._population_code(population)
        for projection in self.spec.projections:
            self.effects.append(synaptic_effect(projection, self.spec, self.objects, self.populations, self.dt))
        self.effect_of = {e.projection: e for e in self.effects}
        self._check_pushed_timing(runners)
        routes_done, pushed_done = set(), set()
        for runner in runners:
            group = getattr(runner, "group", None)
            if isinstance(runner, SynapticPathway):
                self._pathway(runner, routes_done, pushed_done)
            elif group is None or group.name not in self.populations:
                continue  # an input group: its spikes are given
            elif isinstance(runner, StateUpdater):
                self._state_update(runner)
            elif isinstance(runner, Thresholder):
                self._threshold(runner)
            elif isinstance(runner, Resetter):
                self._reset(runner)
        self._outputs()

    def _population_code(self, population):
        where = f"population '{population.name}' ({population.model.source})"
        eqs = Equations(population.model.equations)
        for eq in eqs.values():
            bad = _UNSUPPORTED_FLAGS & set(eq.flags)
            if bad:
                raise UnsupportedConstruct(
                    f"{where}: the flag '{sorted(bad)[0]}' on '{eq.varname}' is not supported by the twin"
                )
        if eqs.stochastic_variables:
            raise UnsupportedConstruct(f"{where}: stochastic equations (xi) are not supported by the twin")
        group = self.objects.groups[population.name]
        written = set(eqs.diff_eq_names)
        for runner in self._runners_of(group):
            _, vector, _ = brian_probes.statements(runner, group)
            written |= {s.var for s in vector if s.op != ":=" and s.var in eqs.names}
        state = sorted(written)
        parameters = sorted(set(eqs.parameter_names) - written)
        code = PopulationCode(
            name=population.name,
            size=population.size,
            state=state,
            parameters=parameters,
            subexpressions=set(eqs.subexpr_names),
            refractory=population.refractory is not None,
            spiking=population.spiking,
            output=population.model.output,
        )
        for name in state + parameters:
            value = to_si(population.initial.get(name, 0.0))
            if np.ndim(value) not in (0, 1) or (np.ndim(value) == 1 and len(value) != population.size):
                raise UnsupportedConstruct(
                    f"{where}: the initial value of '{name}' must be a scalar or {population.size} values"
                )
            code.initial[name] = value
        return code

    def _runners_of(self, group):
        runners = [group.state_updater]
        if "spike" in group.thresholder:
            runners.append(group.thresholder["spike"])
        if "spike" in group.resetter:
            runners.append(group.resetter["spike"])
        return runners

    def _check_pushed_timing(self, runners):
        """Brian2 pushes a source's spikes when a pathway runs; one push per source and step is supported."""
        for source in {e.source for e in self.effects if not e.from_input}:
            positions = [
                k for k, r in enumerate(runners) if isinstance(r, SynapticPathway) and r.synapses.source.name == source
            ]
            threshold = [k for k, r in enumerate(runners) if isinstance(r, Thresholder) and r.group.name == source]
            if threshold and positions and min(positions) < threshold[0] < max(positions):
                raise UnsupportedConstruct(
                    f"population '{source}': its thresholder runs between the synaptic pathways leaving it; "
                    "schedule all its pathways before or after its threshold"
                )

    # ------------------------------------------------------------------ scopes

    def _scope(self, population, variables, scalar_statements, where):
        """Names of one runner's code: its own loop invariants, then the population's variables."""
        code = self.populations[population]
        scope = Scope(where=where)
        for name, variable in variables.items():
            if isinstance(variable, Constant):
                value = variable.get_value()
                scope.constants[name] = value.item() if isinstance(value, np.generic) else value
            elif (
                isinstance(variable, ArrayVariable) and not _owned_by(variable, population) and name not in ("t", "dt")
            ):
                raise UnsupportedConstruct(
                    f"{where}: '{name}' belongs to another group, which the twin does not support"
                )
        scope.constants.update({"dt": self.dt, "N": code.size})
        for var in code.state:
            scope.names[var] = (f"{population}__{var}", VECTOR, False)
        for var in code.parameters:
            scope.names[var] = (f"{population}__{var}", VECTOR, False)
        scope.names["i"] = (f"{population}__i", VECTOR, False)
        scope.names["t"] = ("t", SCALAR, False)
        scope.names["t_in_timesteps"] = ("t_steps", SCALAR, False)
        if code.refractory:
            scope.names["not_refractory"] = (f"({population}__not_refractory != 0)", VECTOR, True)
            scope.names["lastspike"] = (f"({population}__lastspike * {literal(self.dt)})", VECTOR, False)
            scope.names["_steps_since_spike"] = (f"(t_steps - {population}__lastspike)", VECTOR, False)
        for statement in scalar_statements:
            expression = statement.expr
            value = translate(expression, scope)
            if value.kind == CONSTANT:
                scope.constants[statement.var] = value.number
            else:  # depends on t: computed once per step
                local = f"_{population}__{statement.var.strip('_')}_{len(self.lines)}"
                self._emit(f"{local} = {value.text}")
                scope.names[statement.var] = (local, value.kind, value.boolean)
        self.scopes.append(scope)
        return scope

    def _temporary(self, population, name, value, scope):
        """A ':=' statement: a local name for the rest of the runner's code."""
        code = self.populations[population]
        if value.kind == CONSTANT:
            scope.constants[name] = value.number
            return
        local = f"{population}__{name}" if name in code.subexpressions else f"_{population}__{name.strip('_')}"
        self._emit(f"{local} = {value.text}")
        scope.names[name] = (local, value.kind, value.boolean)

    def _statements(self, runner):
        group = runner.group
        scalar, vector, variables = brian_probes.statements(runner, group)
        for statement in scalar + vector:
            statement.expr = statement.expr.replace(_STEPS_SINCE_SPIKE, "_steps_since_spike")
        return scalar, vector, variables

    # ------------------------------------------------------------------ translators, one per kind of runner

    def _begin(self, runner, what, text):
        """A runner's statements and scope, with its header line emitted; None if it has no code."""
        population = runner.group.name
        where = f"population '{population}' ({self.spec.populations[population].model.source}), {what} '{_short(text)}'"
        scalar, vector, variables = self._statements(runner)
        if not vector:
            return None
        self._emit(f"# ---- {runner.name} ({runner.when}, order {runner.order}): {_short(text)}")
        return population, where, vector, variables, self._scope(population, variables, scalar, where)

    def _state_update(self, runner):
        begun = self._begin(runner, "equations", self.spec.populations[runner.group.name].model.equations)
        if begun is None:
            return
        population, where, vector, variables, scope = begun
        for statement in vector:
            value = translate(statement.expr, scope)
            if statement.op == ":=":
                self._temporary(population, statement.var, value, scope)
                continue
            if statement.var == "not_refractory":
                self._emit(f"{population}__not_refractory = {_full(value, f'{population}__not_refractory')}")
                continue
            target = self._written(population, statement, where)
            new = _combine(statement.op, target, value)
            variable = variables.get(statement.var)
            if getattr(variable, "conditional_write", None) is not None:  # (unless refractory)
                new = f"torch.where({population}__not_refractory != 0, {new}, {target})"
            self._emit(f"{target} = {new}")

    def _threshold(self, runner):
        population, where, vector, variables, scope = self._begin(
            runner, "threshold", self.spec.populations[runner.group.name].model.threshold
        )
        *setup, condition = vector
        for statement in setup:
            if statement.op != ":=":
                raise UnsupportedConstruct(f"{where}: a threshold must not write '{statement.var}'")
            self._temporary(population, statement.var, translate(statement.expr, scope), scope)
        tree = ast.parse(condition.expr, mode="eval").body
        terms = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
        comparisons = [t for t in terms if isinstance(t, ast.Compare)]
        if (
            len(comparisons) != 1
            or len(comparisons[0].ops) != 1
            or type(comparisons[0].ops[0]) not in (ast.Gt, ast.GtE, ast.Lt, ast.LtE)
        ):
            raise UnsupportedConstruct(
                f"{where}: a threshold must be one comparison (>, >=, <, <=) such as 'v > v_th', "
                "optionally with 'and' and boolean terms"
            )
        compare = comparisons[0]
        lhs, rhs = ast.unparse(compare.left), ast.unparse(compare.comparators[0])
        if isinstance(compare.ops[0], (ast.Lt, ast.LtE)):
            lhs, rhs = rhs, lhs
        comparison = translate(ast.unparse(compare), scope)
        if comparison.kind != VECTOR:
            raise UnsupportedConstruct(f"{where}: the threshold does not depend on any neuron's state")
        others = [t for t in terms if t is not compare]
        crossed = f"_{population}__crossed"
        lhs_value, rhs_value = translate(lhs, scope), translate(rhs, scope)
        if rhs_value.kind == CONSTANT:
            scale = literal(abs(float(rhs_value.number)) or 1.0)
        else:
            scale = f"torch.abs({rhs_value.text}).clamp_min(1e-30)"
        spike = f"_spike(({lhs_value.text} - {rhs_value.text}) / {scale}, {comparison.text})"
        if others:  # e.g. not_refractory: a hard gate, no gradient where it blocks (the paper's refractoriness)
            allowed = translate(" and ".join(f"({ast.unparse(t)})" for t in others), scope)
            self._emit(
                f"_{population}__allowed = {allowed.text if allowed.kind != CONSTANT else literal(allowed.number)}"
            )
            self._emit(f"{crossed} = {comparison.text} & _{population}__allowed")
            spike = f"torch.where(_{population}__allowed, {spike}, 0.0)"
        else:
            self._emit(f"{crossed} = {comparison.text}")
        self._emit(f"{population}__spikes = {spike}", values=f"{population}__spikes = {crossed}.to(_dtype)")
        self.thresholded.add(population)
        if self.populations[population].refractory:
            self._emit(f"{population}__lastspike = torch.where({crossed}, t_steps, {population}__lastspike)")
            self._emit(f"{population}__not_refractory = torch.where({crossed}, 0.0, {population}__not_refractory)")

    def _reset(self, runner):
        begun = self._begin(runner, "reset", self.spec.populations[runner.group.name].model.reset)
        if begun is None:
            return
        population, where, vector, variables, scope = begun
        spikes = f"{population}__spikes"
        fired, new = f"_{population}__fired", f"_{population}__new"
        self._read_spikes(population)
        self._emit(f"{fired} = {spikes} != 0")
        if not self.detach_reset:
            self._emit(f"_{population}__surrogate = {spikes} - {spikes}.detach()", values="")
        for statement in vector:
            value = translate(statement.expr, scope)
            if statement.op == ":=":
                self._temporary(population, statement.var, value, scope)
                continue
            if statement.var == "not_refractory":
                raise UnsupportedConstruct(f"{where}: a reset must not write 'not_refractory'")
            target = self._written(population, statement, where)
            self._emit(f"{new} = {_combine(statement.op, target, value)}")
            # the gradient term is exactly 0 forward; nan_to_num keeps it so when a state diverged to inf
            gradient = "" if self.detach_reset else f" + _{population}__surrogate * torch.nan_to_num({new} - {target})"
            self._emit(
                f"{target} = torch.where({fired}, {new}, {target}){gradient}",
                values=f"{target} = torch.where({fired}, {new}, {target})",
            )

    def _pathway(self, runner, routes_done, pushed_done):
        effect = self.effect_of[runner.synapses.name]
        target = f"{effect.target}__{effect.variable}"
        lines = []
        if (effect.delayed or effect.from_input) and target not in routes_done:
            routes_done.add(target)
            summed = [
                e.projection
                for e in self.effects
                if (e.delayed or e.from_input) and e is not effect and f"{e.target}__{e.variable}" == target
            ]
            if summed:  # the delivery adds them all into one route, arriving here with the first
                lines.append(f"# drive.{target} also carries {', '.join(summed)}, each at its delays")
            lines.append(self._add_to(effect, target, f"drive.{target}"))
        if not effect.from_input:
            if not self.populations[effect.source].spiking:
                raise UnsupportedConstruct(
                    f"projection '{effect.projection}': its source '{effect.source}' has no threshold"
                )
            if effect.source not in pushed_done:
                pushed_done.add(effect.source)
                self._read_spikes(effect.source)
                lines.append(f"_pushed__{effect.source} = {effect.source}__spikes")
            if effect.same_step:
                lines.append(self._add_to(effect, target, f"_pushed__{effect.source} @ params.w0__{effect.projection}"))
        if lines:
            self._emit(f"# ---- {runner.name} ({runner.when}, order {runner.order}): {runner.synapses.name}")
            for line in lines:
                self._emit(line)

    def _read_spikes(self, population):
        """Spikes read before this step's threshold are the last step's: only then are they state."""
        if population not in self.thresholded:
            self.spikes_carried.add(population)

    def _add_to(self, effect, target, amount):
        """``target += amount``; Brian2 skips refractory neurons for variables marked (unless refractory)."""
        variable = self.objects.groups[effect.target].variables[effect.variable]
        if getattr(variable, "conditional_write", None) is None:
            return f"{target} = {target} + {amount}"
        return f"{target} = torch.where({effect.target}__not_refractory != 0, {target} + {amount}, {target})"

    def _outputs(self):
        self._emit("# ---- outputs (end of step, like Brian2's monitors)")
        for population, code in self.populations.items():
            wanted = [v for p, v in self.record if p == population]
            if code.output:
                wanted.append(code.output)
            for var in dict.fromkeys(wanted):
                if var in code.state or var in code.parameters or var in ("not_refractory", "lastspike"):
                    if var in code.parameters:
                        value = f"{population}__{var}.expand_as({self._any_state(population)})"
                    elif var == "lastspike":
                        value = f"{population}__lastspike * {literal(self.dt)}"
                    else:
                        value = f"{population}__{var}"
                else:
                    group = self.objects.groups[population]
                    scalar, vector, variables = brian_probes.code_statements(f"_value = {var}", group)
                    where = f"population '{population}', recorded variable '{var}'"
                    scope = self._scope(population, variables, scalar, where)
                    for statement in vector[:-1]:
                        self._temporary(population, statement.var, translate(statement.expr, scope), scope)
                    value = _full(translate(vector[-1].expr, scope), self._any_state(population))
                self._emit(f"_out__{population}__{var} = {value}")

    def _any_state(self, population):
        code = self.populations[population]
        return f"{population}__{code.state[0]}" if code.state else f"{population}__i.expand(_batch, {code.size})"

    def _written(self, population, statement, where):
        if statement.var not in self.populations[population].state:
            raise UnsupportedConstruct(f"{where}: writing '{statement.var}' is not supported by the twin")
        if statement.op not in ("=", "+=", "-=", "*=", "/="):
            raise UnsupportedConstruct(f"{where}: the operation '{statement.op}' is not supported by the twin")
        return f"{population}__{statement.var}"

    # ------------------------------------------------------------------ synapses

    # ------------------------------------------------------------------ assembly

    def _emit(self, line, values=None):
        """A line of the step; ``values``: what the values-only variant has instead ("" for nothing)."""
        self.lines.append((line, line if values is None else values))

    def finish(self, pseudo_derivative, gamma, width):
        spiking = tuple(p for p, c in self.populations.items() if c.spiking)
        state = []
        for name, code in self.populations.items():
            state += [f"{name}__{v}" for v in code.state]
            if code.refractory:
                state += [f"{name}__lastspike", f"{name}__not_refractory"]
            if code.spiking and name in self.spikes_carried:
                state.append(f"{name}__spikes")
        drive = tuple(dict.fromkeys(f"{e.target}__{e.variable}" for e in self.effects if e.delayed or e.from_input))
        params = tuple(f"{p}__{v}" for p, c in self.populations.items() for v in c.parameters)
        params += tuple(f"w0__{e.projection}" for e in self.effects if e.same_step)
        consts = tuple(f"{p}__i" for p in self.populations)
        pushed = tuple(dict.fromkeys(e.source for e in self.effects if e.delayed and not e.from_input))
        readouts = tuple(p.name for p in self.spec.readouts)
        discrete = tuple(n for n in state if n.endswith(("__lastspike", "__not_refractory")))
        layout = Layout(
            state=tuple(state),
            drive=drive,
            params=params,
            consts=consts,
            spikes=spiking,
            pushed=pushed,
            readouts=readouts,
            recorded=self.record,
            discrete=discrete,
        )
        outputs = [f"{p}__spikes" for p in spiking] + [f"_pushed__{p}" for p in pushed]
        outputs += [f"_out__{p}__{self.populations[p].output}" for p in readouts]
        outputs += [f"_out__{p}__{v}" for p, v in self.record]
        prologue = [f"    t = t_steps * {literal(self.dt)}"] if any("t" in scope.used for scope in self.scopes) else []
        prologue += [
            "    _dtype = t_steps.dtype",
            f"    _batch = state.{state[0]}.shape[0]" if state else "    _batch = 1",
        ]
        prologue += [f"    {name} = state.{name}" for name in state]
        prologue += [f"    {name} = params.{name}" for name in params if not name.startswith("w0__")]
        prologue += [f"    {name} = consts.{name}" for name in consts]
        footer = "    return State(" + ", ".join(state) + "), Outputs(" + ", ".join(outputs) + ")"

        def function(name, what, body):
            docstring = (
                f"One time step of network {self.spec.name!r} in Brian2's schedule (generated by lsnn_bio.twin){what}."
            )
            return "\n".join(
                [
                    f"def {name}(state, drive, params, consts, t_steps):",
                    f"    {docstring!r}",
                    *prologue,
                    *("    " + line for line in body if line),
                    footer,
                ]
            )

        source = function("step", "", [line for line, _ in self.lines])
        values = function(
            "step_values",
            ": values only, the gradient terms (exactly 0 forward) left out",
            [line for _, line in self.lines],
        )
        types = {
            "State": collections.namedtuple("State", state),
            "Drive": collections.namedtuple("Drive", drive),
            "Params": collections.namedtuple("Params", params),
            "Consts": collections.namedtuple("Consts", consts),
            "Outputs": collections.namedtuple("Outputs", layout.outputs),
        }
        namespace = {
            "torch": torch,
            "_nan": math.nan,
            "_inf": math.inf,
            "_exprel": _exprel,
            "_spike": PSEUDO_DERIVATIVES[pseudo_derivative].spike(gamma, width),
            **types,
        }
        for text in (source, values):  # built from validated syntax trees only (see expressions.py)
            exec(compile(text + "\n", f"<lsnn_bio twin step of {self.spec.name}>", "exec"), namespace)
        return GeneratedStep(
            source=source + "\n",
            function=namespace["step"],
            values=namespace["step_values"],
            layout=layout,
            populations=self.populations,
            effects=self.effects,
            types=types,
        )


# --------------------------------------------------------------------------- helpers


def _exprel(x):
    return torch.where(x == 0, torch.ones_like(x), torch.expm1(x) / x)


def _owned_by(variable, group_name):
    owner = getattr(variable, "owner", None)
    return owner is not None and owner.name == group_name


def _short(text):
    lines = [line.split("#")[0].strip() for line in str(text).splitlines()]
    text = "; ".join(line for line in lines if line)
    return text if len(text) <= 90 else text[:87] + "..."


def _combine(op, target, value):
    """The value a write stores: ``v = e`` -> e as a full tensor, ``v += e`` -> (v + e)."""
    if op == "=":
        return _full(value, target)
    return f"({target} {op[0]} {as_number(value)})"


def _full(value, like):
    """A tensor of the step's dtype shaped like ``like`` (constants and per-step scalars broadcast)."""
    if value.kind == VECTOR:
        return as_number(value)
    return f"(torch.zeros_like({like}) + {as_number(value)})"

"""The twin: a batched, differentiable torch.nn.Module generated from a NetworkSpec.

Weights are dense (n_pre, n_post) parameters times a fixed connectivity mask
(sparse DEEP R training changes the mask, never the shapes); per-neuron
parameters declared in the equations (e.g. a readout ``bias``) are parameters
too. ``forward`` runs Brian2's schedule step by step over a batch of input
rasters and returns spikes, readout outputs and any recorded variables.
"""
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import torch
from torch import nn

from ..units import to_si
from . import step
from .compiler import compile_spec
from .surrogates import PSEUDO_DERIVATIVES

_NEVER = -(2**40)  # "last spike" of a neuron that never spiked, in steps


@dataclass
class TwinResult:
    spikes: dict  # population -> (steps, batch, N) 0/1
    outputs: dict  # readout -> (steps, batch, N)
    states: dict = field(default_factory=dict)  # (population, variable) -> (steps, batch, N)


class Twin(nn.Module):
    """A PyTorch network that computes what the Brian2 network of ``spec`` computes.

    ``pseudo_derivative`` is one of ``surrogates.PSEUDO_DERIVATIVES`` (default the
    paper's triangle, gamma = 0.3); ``detach_reset`` stops gradients through resets.
    """

    def __init__(self, spec, dtype=torch.float32, device="cpu", pseudo_derivative="triangle", gamma=0.3,
                 width=1.0, detach_reset=False):
        super().__init__()
        if pseudo_derivative not in PSEUDO_DERIVATIVES:
            raise ValueError(f"unknown pseudo_derivative '{pseudo_derivative}' (accepted: {', '.join(PSEUDO_DERIVATIVES)})")
        self.spec, self.dtype = spec, dtype
        self.derivative, self.gamma, self.width = PSEUDO_DERIVATIVES[pseudo_derivative], gamma, width
        self.detach_reset = detach_reset
        self.dt = to_si(spec.dt)
        self.plans, projections = compile_spec(spec, dtype)
        self.projections = {p.name: p for p in projections}

        self.weights = nn.ParameterDict()
        for plan in projections:
            n_pre, n_post = spec.size_of(plan.source), spec.size_of(plan.target)
            w = np.zeros((n_pre, n_post))
            mask = np.zeros((n_pre, n_post), dtype=bool)
            delay = np.zeros((n_pre, n_post), dtype=np.int64)
            projection = next(p for p in spec.projections if p.name == plan.name)
            if projection.potential_delay is not None:
                delay[:] = projection.potential_delay
            sign = projection.potential_sign if projection.potential_sign is not None else np.ones((n_pre, n_post))
            w[plan.i, plan.j], mask[plan.i, plan.j], delay[plan.i, plan.j] = plan.w, True, plan.delay
            sign[plan.i, plan.j] = plan.sign
            self.weights[plan.name] = nn.Parameter(torch.tensor(w, dtype=dtype))
            self.register_buffer(f"mask_{plan.name}", torch.tensor(mask))
            self.register_buffer(f"delay_{plan.name}", torch.tensor(delay))
            self.register_buffer(f"sign_{plan.name}", torch.tensor(sign, dtype=torch.int8))
            coefficient = np.broadcast_to(np.asarray(plan.coefficient, dtype=np.float64), (n_post,))
            self.register_buffer(f"coefficient_{plan.name}", torch.tensor(coefficient.copy(), dtype=dtype))
        self.neuron_parameters = nn.ParameterDict(
            {
                f"{plan.name}__{name}": nn.Parameter(torch.tensor(values, dtype=dtype))
                for plan in self.plans.values()
                for name, values in plan.parameters.items()
            }
        )
        # Projections grouped by the variable they drive: one matmul per (target, variable) and step.
        self.routes = {}
        for plan in projections:
            self.routes.setdefault((plan.target, plan.target_var), []).append(plan.name)
        self._compiled_step = None
        self.dense_gradient = False
        self.to(device)

    # ------------------------------------------------------------------ weights

    def effective_weight(self, name):
        """The (n_pre, n_post) weight as Brian2 uses it: masked, in SI units.

        With ``dense_gradient`` (set by DEEP R, which keeps dormant weights at
        exactly 0) the mask is left out so dormant entries get gradients too.
        """
        if self.dense_gradient:
            return self.weights[name]
        return self.weights[name] * getattr(self, f"mask_{name}")

    def route_matrix(self, names):
        """(sum n_pre, delays * n_post) matrix of a route, the on_pre factor folded in."""
        max_delay = max(int(getattr(self, f"delay_{n}").max()) if getattr(self, f"delay_{n}").numel() else 0 for n in names)
        blocks = []
        for name in names:
            w = self.effective_weight(name) * getattr(self, f"coefficient_{name}")
            delay = getattr(self, f"delay_{name}")
            per_delay = [w * (delay == d) for d in range(max_delay + 1)]
            blocks.append(torch.stack(per_delay, dim=1).reshape(w.shape[0], -1))
        return torch.cat(blocks, dim=0), max_delay + 1

    def trained_spec(self):
        """The network as it is now, as a NetworkSpec: connected synapses and per-neuron parameters.

        This is what goes back to Brian2 (weights in SI units, delays and signs of
        the synapses that exist).
        """
        projections = []
        for projection in self.spec.projections:
            name = projection.name
            mask = getattr(self, f"mask_{name}").cpu().numpy()
            i, j = np.nonzero(mask)
            weights = self.weights[name].detach().double().cpu().numpy()
            projections.append(replace(
                projection, i=i, j=j, w=weights[i, j],
                delay=getattr(self, f"delay_{name}").cpu().numpy()[i, j],
                sign=getattr(self, f"sign_{name}").cpu().numpy()[i, j],
            ))
        populations = {}
        for name, population in self.spec.populations.items():
            initial = dict(population.initial)
            for var, value in self.parameter_values(name).items():
                initial[var] = value.detach().double().cpu().numpy() * population.unit(var)
            populations[name] = replace(population, initial=initial)
        return replace(self.spec, projections=projections, populations=populations)

    def parameter_values(self, population):
        plan = self.plans[population]
        return {name: self.neuron_parameters[f"{population}__{name}"] for name in plan.parameters}

    # ------------------------------------------------------------------ simulation

    def initial_state(self, batch):
        device = next(self.parameters()).device
        state = {}
        for name, plan in self.plans.items():
            state[name] = {
                var: torch.as_tensor(plan.initial[var], dtype=self.dtype, device=device).expand(batch, plan.size).clone()
                for var in plan.state_vars
            }
            state[name]["_last_spike"] = torch.full((batch, plan.size), _NEVER, dtype=torch.int64, device=device)
        return state

    def forward(self, inputs, record=(), state=None):
        """Simulate ``inputs`` ({input name: (steps, batch, n)} 0/1 rasters).

        ``record`` lists (population, variable) pairs to return per step (state
        variables, parameters or subexpressions such as the ALIF threshold ``A``).
        """
        steps, batch = self._check_inputs(inputs)
        device = next(self.parameters()).device
        inputs = {name: torch.as_tensor(x, dtype=self.dtype, device=device) for name, x in inputs.items()}
        state = self.initial_state(batch) if state is None else state
        routes = {key: self.route_matrix(names) for key, names in self.routes.items()}
        buffers = {key: torch.zeros(batch, slots, self.spec.size_of(key[0]), dtype=self.dtype, device=device)
                   for key, (_, slots) in routes.items()}
        fixed = {
            "routes": {key: matrix for key, (matrix, _) in routes.items()},
            "parameters": {name: self.parameter_values(name) for name in self.plans},
            "zeros": {name: torch.zeros(batch, plan.size, dtype=self.dtype, device=device) for name, plan in self.plans.items()},
            "index": {name: torch.arange(plan.size, device=device, dtype=self.dtype) for name, plan in self.plans.items()},
        }
        step_function = self._compiled_step or self.step
        trace = []
        for t in range(steps):
            tensor_t = torch.tensor(t, device=device)
            state, buffers, observed = step_function(tensor_t, state, buffers, {n: x[t] for n, x in inputs.items()}, fixed, tuple(record))
            trace.append(observed)
        return TwinResult(
            spikes={n: torch.stack([o["spikes"][n] for o in trace]) for n in trace[0]["spikes"]} if trace else {},
            outputs={n: torch.stack([o["outputs"][n] for o in trace]) for n in trace[0]["outputs"]} if trace else {},
            states={k: torch.stack([o["states"][k] for o in trace]) for k in record} if trace else {},
        )

    def step(self, t, state, buffers, inputs, fixed, record=()):
        """One time step in Brian2's schedule; returns (state, buffers, observations)."""
        envs = {}
        for name, plan in self.plans.items():  # groups: state updates
            env = {**plan.constants, **fixed["parameters"][name], **state[name], "t": t * self.dt,
                   "_zeros": fixed["zeros"][name], "i": fixed["index"][name], "N": float(plan.size)}
            if plan.refractory_steps is not None:
                env["not_refractory"] = (t - state[name]["_last_spike"]) >= plan.refractory_steps
            step.run_block(plan.update, env, partial(step.state_update_write, env=env))
            envs[name] = env
        fired = {}
        for name, plan in self.plans.items():  # thresholds
            if plan.spiking:
                z, crossed = step.threshold(plan.threshold, envs[name], self.derivative, self.gamma, self.width)
                fired[name] = (z, crossed)
                envs[name]["_last_spike"] = torch.where(crossed, t, envs[name]["_last_spike"])
        spike_of = {**inputs, **{n: z for n, (z, _) in fired.items()}}
        buffers = dict(buffers)
        for key, names in self.routes.items():  # synapses
            presynaptic = torch.cat([spike_of[self.projections[n].source] for n in names], dim=1)
            arriving, buffers[key] = step.deliver(buffers[key], presynaptic, fixed["routes"][key])
            target, var = key
            envs[target][var] = envs[target][var] + arriving
        for name, plan in self.plans.items():  # resets
            if plan.reset is not None and name in fired:
                step.reset(plan.reset, envs[name], *fired[name], self.detach_reset)
        new_state = {
            name: {**{var: envs[name][var] for var in plan.state_vars}, "_last_spike": envs[name]["_last_spike"]}
            for name, plan in self.plans.items()
        }
        observed = {
            "spikes": {name: z for name, (z, _) in fired.items()},
            "outputs": {name: self._value(plan, plan.output, envs[name]) for name, plan in self.plans.items() if plan.readout},
            "states": {(p, v): self._value(self.plans[p], v, envs[p]) for p, v in record},
        }
        return new_state, buffers, observed

    def compile_step(self, **options):
        """Use ``torch.compile`` for the time step (the loop over time stays in Python)."""
        self._compiled_step = torch.compile(self.step, **options)
        return self

    def _value(self, plan, var, env):
        if var in plan.outputs:
            local = dict(env)
            step.run_block(plan.outputs[var], local)
            value = local["_value"]
        else:
            value = env[var]
        return value.expand_as(env["_zeros"]) if torch.is_tensor(value) else torch.full_like(env["_zeros"], value)

    def _check_inputs(self, inputs):
        expected = {name: group.size for name, group in self.spec.inputs.items()}
        if set(inputs) != set(expected):
            raise ValueError(f"inputs must be given for exactly {sorted(expected)}, got {sorted(inputs)}")
        shapes = {name: tuple(x.shape) for name, x in inputs.items()}
        steps_batch = {s[:2] for s in shapes.values()}
        for name, shape in shapes.items():
            if len(shape) != 3 or shape[2] != expected[name]:
                raise ValueError(f"input '{name}' must have shape (steps, batch, {expected[name]}), got {shape}")
        if len(steps_batch) != 1:
            raise ValueError(f"all inputs must share (steps, batch), got {shapes}")
        return steps_batch.pop()

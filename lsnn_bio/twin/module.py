"""The twin: a torch.nn.Module that computes what the Brian2 network of a NetworkSpec computes.

It owns what training changes: each projection's dense (n_pre, n_post) weight
with its connectivity mask (DEEP R changes the mask, never the shapes), fixed
per-synapse delays and signs, and per-neuron parameters declared in the
equations (e.g. a readout ``bias``). The dynamics are the step generated from
Brian2's code (``codegen``); ``forward`` runs whole trials through ``engine``
(open loop: inputs known in advance), ``step`` advances one time step with
ordinary autograd (closed loop: an agent whose next input depends on its output).
"""

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..units import to_si
from . import checks, engine
from .checks import TwinError
from .codegen import NEVER, generate
from .delivery import Delivery
from .engine import TwinState


class StepOutput(NamedTuple):
    spikes: dict  # population -> (batch, N)
    outputs: dict  # readout -> (batch, N)


@dataclass
class TwinResult:
    spikes: dict  # population -> (steps, batch, N) 0/1
    outputs: dict  # readout -> (steps, batch, N)
    states: dict = field(default_factory=dict)  # (population, variable) -> (steps, batch, N)
    final_state: TwinState | None = None


class _Synapses(nn.Module):
    def __init__(self, weight, mask, delay, sign, coefficient, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(weight, dtype=dtype))
        self.register_buffer("mask", torch.tensor(mask))
        self.register_buffer("delay", torch.tensor(delay))
        self.register_buffer("sign", torch.tensor(sign, dtype=torch.int8))
        self.register_buffer("coefficient", torch.tensor(coefficient, dtype=dtype))


class _Neurons(nn.Module):
    def __init__(self, parameters, dtype):
        super().__init__()
        self.values = nn.ParameterDict({n: nn.Parameter(torch.tensor(v, dtype=dtype)) for n, v in parameters.items()})


class Twin(nn.Module):
    """A PyTorch network that computes what the Brian2 network of ``spec`` computes.

    ``pseudo_derivative``: one of ``PSEUDO_DERIVATIVES`` (default the paper's
    triangle, height ``gamma`` = 0.3, half-width ``width`` = 1 in units of the
    normalised distance to threshold). ``detach_reset`` stops gradients through
    resets. ``compile``: fuse the step and its backward with torch's Inductor (``engine.Fused``)
    (identical spikes; worth it for training, a compile costs seconds).
    """

    def __init__(
        self,
        spec,
        dtype=torch.float32,
        device="cpu",
        pseudo_derivative="triangle",
        gamma=0.3,
        width=1.0,
        detach_reset=False,
        compile=False,
    ):
        super().__init__()
        device = checks.settings(dtype, device, pseudo_derivative, gamma, width)
        self.spec = spec
        self.settings = dict(
            pseudo_derivative=pseudo_derivative, gamma=float(gamma), width=float(width), detach_reset=bool(detach_reset)
        )
        self.compile_kernels = bool(compile)
        self.dense_gradient = False  # DEEP R: gradients for absent synapses too
        self._cache = {}
        base = self._generated(())
        self.population_codes = base.populations
        self.effects = {e.projection: e for e in base.effects}

        self.synapses = nn.ModuleDict()
        for projection in spec.projections:
            n_pre, n_post = spec.size_of(projection.source), spec.size_of(projection.target)
            weight, mask = np.zeros((n_pre, n_post)), np.zeros((n_pre, n_post), dtype=bool)
            delay = np.zeros((n_pre, n_post), dtype=np.int64)
            if projection.potential_delay is not None:
                delay[:] = projection.potential_delay
            sign = np.ones((n_pre, n_post), dtype=np.int8)
            if projection.potential_sign is not None:
                sign[:] = projection.potential_sign
            i, j = projection.i, projection.j
            weight[i, j], mask[i, j], delay[i, j], sign[i, j] = projection.w, True, projection.delay, projection.sign
            self.synapses[projection.name] = _Synapses(
                weight, mask, delay, sign, self.effects[projection.name].coefficient, dtype
            )
        self.neurons = nn.ModuleDict(
            {
                name: _Neurons(
                    {v: np.broadcast_to(code.initial[v], (code.size,)).copy() for v in code.parameters}, dtype
                )
                for name, code in self.population_codes.items()
            }
        )
        self.delayed_projections = [e.projection for e in base.effects if e.delayed or e.from_input]
        self.delivery = self._delivery(base)
        self.to(device)

    # ------------------------------------------------------------------ structure

    def _delivery(self, generated):
        """The synapses that act through the spike history: inputs first, then spiking populations."""
        used = {self.effects[p].source for p in self.delayed_projections}
        sources = [(name, group.size, True) for name, group in self.spec.inputs.items()]
        sources += [(name, self.spec.size_of(name), False) for name in generated.layout.pushed if name in used]
        projections = [
            (p, self.effects[p].source, f"{self.effects[p].target}__{self.effects[p].variable}")
            for p in self.delayed_projections
        ]
        routes = {route: self.spec.size_of(route.split("__")[0]) for route in generated.layout.drive}
        return Delivery(
            sources,
            projections,
            routes,
            {p: self.synapses[p].delay for p in self.delayed_projections},
            {p: self.synapses[p].mask for p in self.delayed_projections},
        )

    @property
    def sources(self):
        """The spike sources in the order of ``TwinState.history``'s last axis: (name, size)."""
        return [(s.name, s.size) for s in self.delivery.sources.values()]

    def _generated(self, record):
        key = ("generated", tuple(record))
        if key not in self._cache:
            self._cache[key] = generate(self.spec, record=record, **self.settings)
        return self._cache[key]

    def _kernels(self, record):
        key = ("kernels", tuple(record), self.compile_kernels)
        if key not in self._cache:
            generated = self._generated(record)
            self._cache[key] = engine.Kernels(generated, self.packing(generated), compile=self.compile_kernels)
        return self._cache[key]

    @property
    def workspace(self):
        """The trials' large buffers, kept between calls (``engine.Workspace``); dropped when pickled or copied."""
        if "workspace" not in self._cache:
            self._cache["workspace"] = engine.Workspace()
        return self._cache["workspace"]

    def packing(self, generated):
        key = ("packing", generated.layout.recorded)
        if key not in self._cache:
            self._cache[key] = engine.Packing(generated, self)
        return self._cache[key]

    def __getstate__(self):  # generated functions are rebuilt on use, so the module pickles and deep-copies
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state

    def source(self, record=()):
        """The generated torch source of one time step (what ``forward`` and ``step`` run)."""
        return self._generated(checks.record(self, record)).source

    @property
    def dtype(self):
        return (
            next(iter(self.synapses.values())).weight.dtype
            if len(self.synapses)
            else next(iter(self.parameters())).dtype
        )

    @property
    def device(self):
        return next(iter(self.buffers())).device

    # ------------------------------------------------------------------ weights and parameters

    def weight(self, name):
        return self.synapses[name].weight

    def mask(self, name):
        return self.synapses[name].mask

    def delay(self, name):
        return self.synapses[name].delay

    def sign(self, name):
        return self.synapses[name].sign

    def parameter(self, population, variable):
        return self.neurons[population].values[variable]

    def parameter_values(self, population):
        return dict(self.neurons[population].values)

    @property
    def weights(self):
        """{projection: (n_pre, n_post) weight parameter}."""
        return {name: s.weight for name, s in self.synapses.items()}

    def effective_weight(self, name):
        """The (n_pre, n_post) weight as Brian2 uses it: masked, in SI units of the synapse's weight.

        With ``dense_gradient`` (DEEP R, which keeps absent weights at exactly 0)
        the mask is left out so absent synapses get gradients too.
        """
        synapses = self.synapses[name]
        return synapses.weight if self.dense_gradient else synapses.weight * synapses.mask

    def _delivered(self, name):
        """What one presynaptic spike adds to the target variable: the weight times the on_pre factor."""
        return self.effective_weight(name) * self.synapses[name].coefficient

    def delays_of(self, delivery):
        return {p: self.synapses[p].delay for p, _, _ in delivery.projections}

    def masks_of(self, delivery):
        return {p: self.synapses[p].mask for p, _, _ in delivery.projections}

    def sequence_tensors(self, generated):
        """The differentiable inputs of a trial: delayed effective weights, then the step's params."""
        tensors = [self._delivered(p) for p in self.delayed_projections]
        return tensors + self._params(generated)

    def _params(self, generated):
        values = []
        for name in generated.layout.params:
            if name.startswith("w0__"):
                projection = name[len("w0__") :]
                weight = self._delivered(projection)
                values.append(torch.where(self.synapses[projection].delay == 0, weight, torch.zeros_like(weight)))
            else:
                population, variable = name.split("__", 1)
                values.append(self.parameter(population, variable))
        return values

    def consts(self, Consts):
        return Consts(
            *(
                torch.arange(self.spec.size_of(name.split("__")[0]), dtype=self.dtype, device=self.device)
                for name in Consts._fields
            )
        )

    def output_sizes_packed(self, packing):
        """Neurons per output of a trial (spikes, readouts, recorded variables), in the kernels' order."""
        return [self.spec.size_of(name.split("__")[1]) for name in packing.outputs]

    # ------------------------------------------------------------------ simulation

    def initial_state(self, batch):
        """The state before the first step: the documents' initial values, no spike travelling."""
        if isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0:
            raise TwinError(f"batch must be a positive whole number, got {batch!r}")
        generated = self._generated(())
        values = []
        for name in generated.layout.state:
            population, variable = name.split("__", 1)
            code = self.population_codes[population]
            if variable == "lastspike":
                value = NEVER / to_si(self.spec.dt)  # in steps, like Brian2's -10 s
            elif variable == "not_refractory":
                value = 1.0
            elif variable == "spikes":
                value = 0.0
            else:
                value = code.initial[variable]
            tensor = torch.as_tensor(value, dtype=self.dtype, device=self.device)
            values.append(tensor.expand(batch, code.size).clone())
        history = torch.zeros(
            self.delivery.max_delay, batch, self.delivery.n_sources, dtype=self.dtype, device=self.device
        )
        return TwinState(generated.types["State"](*values), history, 0)

    def forward(self, inputs, record=(), state=None, steps=None):
        """Simulate ``inputs`` ({input name: (steps, batch, n) 0/1}) from ``state`` (default: initial).

        ``record`` lists (population, variable) pairs to return per step (state
        variables, parameters or subexpressions such as the ALIF threshold ``A``),
        as Brian2's StateMonitor(when='end') records them. ``final_state`` is
        detached: a trial continued from it differentiates its own steps (and the
        spikes still travelling from the last ones), not the trial before it, as
        truncated BPTT does; ``step`` carries gradients across every step.
        """
        checks.dtype(self)
        record = checks.record(self, record)
        inputs, shape = checks.inputs(self, inputs, steps)
        if state is None:
            state = self.initial_state(shape[1])
        checks.state(self, state, shape[1])
        generated = self._generated(record)
        outputs, final = engine.run(self, generated, self._kernels(record), inputs, state, shape)
        named = dict(zip(self.packing(generated).outputs, outputs))
        return TwinResult(
            spikes={p: named[f"spikes__{p}"] for p in generated.layout.spikes},
            outputs={p: named[f"readout__{p}"] for p in generated.layout.readouts},
            states={(p, v): named[f"record__{p}__{v}"] for p, v in generated.layout.recorded},
            final_state=final,
        )

    def step(self, state, inputs):
        """One time step with ordinary autograd: ``state, out = twin.step(state, {input: (batch, n)})``."""
        checks.dtype(self)
        generated, delivery = self._generated(()), self.delivery
        checks.state(self, state, state.history.shape[1], stepping=True)
        inputs = checks.step_inputs(self, inputs, state)
        batch = state.history.shape[1]
        now = torch.zeros(batch, delivery.n_sources, dtype=self.dtype, device=self.device)
        for name, source in delivery.sources.items():
            if source.is_input:
                now = torch.cat([now[:, : source.offset], inputs[name], now[:, source.offset + source.size :]], dim=1)
        window = torch.cat([state.history, now[None]])  # (lags, batch, n_sources), oldest first
        types = generated.types
        drive = []
        if delivery.projections:
            matrix = delivery.differentiable_matrix(
                {p: self._delivered(p) for p in self.delayed_projections}, self.delays_of(delivery)
            )
            current = window.permute(1, 0, 2).reshape(batch, -1) @ matrix
            drive = [
                current[:, delivery.routes[r].offset : delivery.routes[r].offset + delivery.routes[r].size]
                for r in generated.layout.drive
            ]
        t_steps = torch.tensor(float(state.step), dtype=self.dtype, device=self.device)
        neurons, out = generated.function(
            state.neurons,
            types["Drive"](*drive),
            types["Params"](*self._params(generated)),
            self.consts(types["Consts"]),
            t_steps,
        )
        named = dict(zip(out._fields, out))
        pushed = now
        for name, source in delivery.sources.items():
            if not source.is_input:
                pushed = torch.cat(
                    [pushed[:, : source.offset], named[f"pushed__{name}"], pushed[:, source.offset + source.size :]],
                    dim=1,
                )
        history = torch.cat([state.history[1:], pushed[None]]) if delivery.max_delay else state.history
        output = StepOutput(
            spikes={p: named[f"spikes__{p}"] for p in generated.layout.spikes},
            outputs={p: named[f"readout__{p}"] for p in generated.layout.readouts},
        )
        return TwinState(neurons, history, state.step + 1), output

    # ------------------------------------------------------------------ back to Brian2

    def trained_spec(self):
        """The network as it is now, as a NetworkSpec: connected synapses and per-neuron parameters.

        This is what goes back to Brian2 (weights in SI units, delays and signs
        of the synapses that exist).
        """
        projections = []
        for projection in self.spec.projections:
            synapses = self.synapses[projection.name]
            i, j = np.nonzero(synapses.mask.cpu().numpy())
            weights = synapses.weight.detach().double().cpu().numpy()
            projections.append(
                dataclasses.replace(
                    projection,
                    i=i,
                    j=j,
                    w=weights[i, j],
                    delay=synapses.delay.cpu().numpy()[i, j],
                    sign=synapses.sign.cpu().numpy()[i, j],
                )
            )
        populations = {}
        for name, population in self.spec.populations.items():
            initial = dict(population.initial)
            for var, value in self.parameter_values(name).items():
                initial[var] = value.detach().double().cpu().numpy() * population.unit(var)
            populations[name] = dataclasses.replace(population, initial=initial)
        return dataclasses.replace(self.spec, projections=projections, populations=populations)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        _upgrade_state_dict(state_dict, prefix)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


def _upgrade_state_dict(state_dict, prefix):
    """Checkpoints written before the twin engine rewrite named tensors ``weights.X``, ``mask_X``, ..."""
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        new = None
        if rest.startswith("weights."):
            new = f"synapses.{rest[len('weights.') :]}.weight"
        for old in ("mask", "delay", "sign", "coefficient"):
            if rest.startswith(f"{old}_"):
                new = f"synapses.{rest[len(old) + 1 :]}.{old}"
        if rest.startswith("neuron_parameters."):
            population, variable = rest[len("neuron_parameters.") :].split("__", 1)
            new = f"neurons.{population}.values.{variable}"
        if new is not None:
            state_dict[prefix + new] = state_dict.pop(key)

"""NetworkSpec -> Brian2 objects; run trials on any engine and return plain numpy.

The structure (connectivity, weights, delays, initial values) comes only from
the spec's arrays, never from Brian2's random number generator, so the numpy
engine, the C++ binary, the GPU and the PyTorch twin all simulate the same
network. Inputs are spike rasters played through a ``TimedArray`` (not a
``SpikeGeneratorGroup``) because a standalone binary can swap TimedArray values
per run without recompiling.
"""

import contextlib
import shutil
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import brian2
import numpy as np
from brian2.equations.equations import DIFFERENTIAL_EQUATION, PARAMETER

from .. import brian_probes
from ..engines import STANDALONE, EngineError, brian_engine
from ..errors import LsnnBioError
from ..units import seconds
from . import cache, devices


class TrialInputError(LsnnBioError, ValueError):
    """Inputs, weights, parameters or recording requests that do not fit the network."""


@dataclass
class BrianResult:
    """One trial: spikes and recorded states, as plain numpy arrays shaped as the twin gives them.

    ``spikes[pop]`` is bool (steps, N); ``states[(pop, var)]`` is float64 (steps, N) in
    SI units, recorded at the end of each step (after resets), which is what the
    twin reports too (its ``TwinResult.states`` has the same keys, with a batch axis).
    """

    spikes: dict
    states: dict
    dt: float  # seconds
    steps: int
    engine: str
    wall_seconds: float = 0.0  # this trial's simulation, including reading results

    def rate(self, population):
        """Mean firing rate of a population in Hz."""
        raster = self.spikes[population]
        return float(raster.mean() / self.dt) if raster.size else 0.0


class BrianNetwork:
    """A spec built once on one engine, run for any number of trials.

    ``engine``: 'numpy', 'cpp_standalone' or 'cuda_standalone'. ``steps``: trial
    length in time steps of ``spec.dt`` (fixed, since standalone binaries bake
    the duration in). ``record``: ``{population: [variables]}`` to record besides
    spikes and the readouts' output variable. ``directory``: the standalone project
    folder, kept (default: a private folder in the cache, removed by :meth:`close` or
    when the network is collected). The binary comes from the cache when this machine has
    compiled the same code before (``compiled`` says whether this construction compiled;
    ``log``, a stream, gets a line before a compile). ``generate_only``: standalone engines
    write code but do not compile (``run`` is then unavailable).
    """

    def __init__(self, spec, engine="numpy", steps=None, record=None, directory=None, generate_only=False, log=None):
        self.spec = spec
        self.engine = brian_engine(engine)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps <= 0:
            raise TrialInputError(f"steps must be a positive whole number of time steps, got {steps!r}")
        self.steps = int(steps)
        self.dt = seconds(spec.dt, "dt")
        self.record = self._check_record(record or {})
        self.standalone = self.engine in STANDALONE
        self.generate_only = bool(generate_only)
        if self.generate_only and not self.standalone:
            raise EngineError("generate_only only applies to 'cpp_standalone' and 'cuda_standalone'")
        self.directory = None
        self._remove_directory = None
        if self.standalone:
            if directory is None:
                self.directory = cache.work_directory(self.engine)
                self._remove_directory = weakref.finalize(self, shutil.rmtree, self.directory, ignore_errors=True)
            else:
                self.directory = Path(directory).absolute()
                self.directory.mkdir(parents=True, exist_ok=True)
        self.builds = 0  # code generations (+ binaries compiled or taken from the cache); numpy: constructions
        self.runs = 0
        self.build_seconds = 0.0
        self.compiled = False  # whether building compiled a binary (False: taken from the cache)
        self.binary_key = None  # the binary's key in the cache (standalone engines that compile)
        self._log = log
        self._device = devices.new_device(self.engine)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def close(self):
        """Remove the private working folder (a ``directory`` given by the caller is kept); no more runs."""
        if self._remove_directory is not None:
            self._remove_directory()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ building

    def _check_record(self, record):
        if not isinstance(record, dict):
            raise TrialInputError(f"record must be a mapping {{population: [variables]}}, got {type(record).__name__}")
        checked = {}
        for name, variables in record.items():
            population = self._population(name)
            if isinstance(variables, str):
                variables = [variables]
            allowed = sorted(population.recordable)
            for var in variables:
                if var not in allowed:
                    raise TrialInputError(
                        f"population '{name}' has no variable '{var}' to record (accepted: {', '.join(allowed)})"
                    )
            checked[name] = list(dict.fromkeys(variables))
        for population in self.spec.populations.values():
            if population.model.output:
                checked.setdefault(population.name, [])
                if population.model.output not in checked[population.name]:
                    checked[population.name].append(population.model.output)
        return checked

    def _population(self, name):
        if name not in self.spec.populations:
            raise TrialInputError(f"unknown population '{name}' (accepted: {', '.join(self.spec.populations)})")
        return self.spec.populations[name]

    def _build(self):
        start = time.perf_counter()
        extra_prefs = {}
        if self.engine == "cuda_standalone":
            extra_prefs = devices.cuda_preferences(compile=not self.generate_only)
        try:
            names = devices.own_names() if self.standalone else contextlib.nullcontext()
            with devices.preferences(extra_prefs), devices.active(self._device, self.engine, self.directory), names:
                self._create_objects()
                self.network = brian2.Network(self._objects)
                if self.standalone:
                    self.network.run(self.steps * self.spec.dt, namespace={})
                    self._device.build(directory=str(self.directory), compile=False, run=False)
                    if not self.generate_only:
                        self.binary_key, self.compiled = cache.compile_or_reuse(
                            self._device, self.directory, self.engine, log=self._log
                        )
                else:
                    self.network.store("initial")
        finally:
            if self.engine == "cuda_standalone":
                devices.reset_cuda_selection()
        self.builds += 1
        self.build_seconds += time.perf_counter() - start

    def _clock(self, dt):
        """One explicitly named clock per time step: Brian2 would give every object its own and generate their
        initialisation in set order, which differs from process to process and would defeat the binary cache."""
        key = float(seconds(dt, "dt"))
        if key not in self._clocks:
            suffix = f"_{len(self._clocks)}" if self._clocks else ""
            self._clocks[key] = brian2.Clock(dt, name=f"lsnn_clock{suffix}")
        return self._clocks[key]

    def _create_objects(self):
        spec, dt = self.spec, self.spec.dt
        self._objects, self.groups, self.rasters, self.synapses = [], {}, {}, {}
        self.spike_monitors, self.state_monitors, self._clocks = {}, {}, {}
        for name, inp in spec.inputs.items():
            raster = brian2.TimedArray(np.zeros((self.steps, inp.size)), dt=dt, name=f"{name}_raster")
            group = brian2.NeuronGroup(
                inp.size,
                "",
                threshold=f"{raster.name}(t, i) > 0.5",
                reset="",
                namespace={raster.name: raster},
                clock=self._clock(dt),
                name=name,
            )
            self.rasters[name], self.groups[name] = raster, group
        for name, population in spec.populations.items():
            group = brian_probes.neuron_group(population, name=name, clock=self._clock(population.dt))
            for var, value in population.initial.items():
                setattr(group, var, value)
            self.groups[name] = group
        for proj in spec.projections:
            if len(proj.i) == 0:
                continue  # nothing to simulate; Brian2 standalone rejects empty arrays
            synapses = brian_probes.synapses(
                proj.synapse,
                self.groups[proj.source],
                self.groups[proj.target],
                spec.populations[proj.target].parameters,
                proj.name,
                clock=self._clock(dt),
            )
            synapses.connect(i=np.asarray(proj.i), j=np.asarray(proj.j))
            setattr(synapses, proj.synapse.weight, proj.w * proj.w_unit)
            synapses.delay = np.asarray(proj.delay) * dt
            self.synapses[proj.name] = synapses
        for name, population in spec.populations.items():
            group = self.groups[name]
            if population.spiking:  # right after the thresholder, wherever the model schedules it
                thresholder = group.thresholder["spike"]
                self.spike_monitors[name] = brian2.SpikeMonitor(
                    group, record=True, name=f"{name}_spikemonitor", when=thresholder.when, order=thresholder.order + 1
                )
            if self.record.get(name):
                self.state_monitors[name] = brian2.StateMonitor(
                    group, self.record[name], record=True, when="end", name=f"{name}_statemonitor"
                )
        self._objects = (
            list(self.groups.values())
            + list(self.synapses.values())
            + list(self.spike_monitors.values())
            + list(self.state_monitors.values())
        )

    # ------------------------------------------------------------------ running

    def run(self, inputs, weights=None, parameters=None):
        """Simulate one trial and return its spikes and recorded states.

        ``inputs``: ``{input name: (steps, n) array of 0/1}``. ``weights``:
        ``{projection name: SI float array}`` replacing the spec's weights for this
        trial (same synapses). ``parameters``: ``{population: {variable: SI value or
        per-neuron array}}`` for per-neuron variables (e.g. a readout ``bias``) and
        initial values. Standalone binaries are not recompiled for any of these.
        """
        if self._remove_directory is not None and not self._remove_directory.alive:
            raise EngineError(f"this {self.engine} network was closed (its working folder is removed); build a new one")
        if self.generate_only:
            raise EngineError(
                f"this {self.engine} network was only generated (generate_only=True) in {self.directory}; "
                "build it with generate_only=False to run trials"
            )
        rasters = self._check_inputs(inputs)
        weights = self._check_weights(weights or {})
        parameters = self._check_parameters(parameters or {})
        start = time.perf_counter()
        if self.standalone:
            self._run_standalone(rasters, weights, parameters)
        else:
            self._run_numpy(rasters, weights, parameters)
        self.runs += 1
        result = self._collect()
        result.wall_seconds = time.perf_counter() - start
        return result

    def _run_numpy(self, rasters, weights, parameters):
        with devices.active(self._device, self.engine):
            self.network.restore("initial")
            for name, raster in rasters.items():
                # The numpy implementation of a TimedArray reads this very array.
                self.rasters[name].values[...] = raster
            for name, w in weights.items():
                self.synapses[name].variables[self._weight_name(name)].set_value(w)
            for (population, var), value in parameters.items():
                self.groups[population].variables[var].set_value(value)
            self.network.run(self.steps * self.spec.dt, namespace={})

    def _run_standalone(self, rasters, weights, parameters):
        run_args = {self.rasters[name]: raster for name, raster in rasters.items()}
        for name, w in weights.items():
            view = self.synapses[name].state(self._weight_name(name), use_units=True)
            run_args[view] = brian2.Quantity(w, dim=view.dim)
        for (population, var), value in parameters.items():
            view = self.groups[population].state(var, use_units=True)
            run_args[view] = brian2.Quantity(value, dim=view.dim)
        try:
            self._device.run(directory=str(self.directory), with_output=False, run_args=run_args)
        finally:
            # Brian2 writes every run_args array (and a .lock beside it) into
            # static_arrays/; without this a long validation fills the disk.
            for name in list(getattr(self._device, "run_args_arrays", [])):
                Path(self.directory, "static_arrays", name + ".lock").unlink(missing_ok=True)
            self._device.delete(code=False, data=False, run_args=True, directory=False)

    def _weight_name(self, projection):
        return next(p for p in self.spec.projections if p.name == projection).synapse.weight

    def _collect(self):
        spikes, states = {}, {}
        for name, monitor in self.spike_monitors.items():
            i = np.asarray(monitor.variables["i"].get_value(), dtype=np.int64)
            t = np.asarray(monitor.variables["t"].get_value(), dtype=np.float64)
            raster = np.zeros((self.steps, self.groups[name].N), dtype=bool)
            raster[np.rint(t / self.dt).astype(np.int64), i] = True
            spikes[name] = raster
        for name, monitor in self.state_monitors.items():
            for var in self.record[name]:
                values = np.array(monitor.variables[var].get_value(), dtype=np.float64).reshape(-1, self.groups[name].N)
                if values.shape[0] != self.steps:
                    raise LsnnBioError(
                        f"Brian2 recorded {values.shape[0]} steps of {name}.{var}, expected {self.steps}"
                    )
                states[(name, var)] = values
        return BrianResult(spikes=spikes, states=states, dt=self.dt, steps=self.steps, engine=self.engine)

    # ------------------------------------------------------------------ checks

    def _check_inputs(self, inputs):
        expected = {name: (self.steps, inp.size) for name, inp in self.spec.inputs.items()}
        accepted = ", ".join(f"'{n}': array of shape {s} with values 0/1" for n, s in expected.items())
        if not isinstance(inputs, dict):
            raise TrialInputError(
                f"inputs must be a mapping {{input name: raster}}, got {type(inputs).__name__} (accepted: {accepted})"
            )
        missing, unknown = set(expected) - set(inputs), set(inputs) - set(expected)
        if missing or unknown:
            problem = "; ".join(
                part
                for part in (
                    f"missing input(s) {sorted(missing)}" if missing else "",
                    f"unknown input(s) {sorted(unknown)}" if unknown else "",
                )
                if part
            )
            raise TrialInputError(f"{problem} (accepted: {accepted})")
        rasters = {}
        for name, shape in expected.items():
            raster = np.asarray(inputs[name])
            if raster.shape != shape:
                raise TrialInputError(
                    f"input '{name}' has shape {raster.shape}, expected {shape} (steps, neurons) "
                    f"for {self.steps} steps of {self.spec.inputs[name].size} channels"
                )
            raster = raster.astype(np.float64)
            if not np.all((raster == 0) | (raster == 1)):
                raise TrialInputError(f"input '{name}' must contain only 0 and 1 (spike or not per step)")
            rasters[name] = np.ascontiguousarray(raster)
        return rasters

    def _check_weights(self, weights):
        by_name = {p.name: p for p in self.spec.projections}
        checked = {}
        for name, w in weights.items():
            if name not in by_name:
                raise TrialInputError(f"unknown projection '{name}' (accepted: {', '.join(by_name)})")
            w = np.asarray(w, dtype=np.float64)
            count = len(by_name[name].i)
            if w.shape != (count,):
                raise TrialInputError(
                    f"weights for '{name}' have shape {w.shape}, expected ({count},): one SI value per synapse "
                    "of the spec's connectivity (new connectivity needs a new network)"
                )
            if not np.all(np.isfinite(w)):
                raise TrialInputError(f"weights for '{name}' contain NaN or infinite values")
            if count:
                checked[name] = w
        return checked

    def _check_parameters(self, parameters):
        checked = {}
        for name, values in parameters.items():
            population = self._population(name)
            group = self.groups[name]
            allowed = per_neuron_variables(population)
            for var, value in values.items():
                if var not in allowed:
                    why = (
                        f"'{var}' is a shared constant of {name}, compiled into the code; change it in the spec"
                        if var in population.parameters
                        else f"population '{name}' has no per-neuron variable '{var}'"
                    )
                    raise TrialInputError(f"{why} (accepted: {', '.join(allowed) or 'none'})")
                value = np.asarray(value, dtype=np.float64)
                if value.ndim == 0:
                    value = np.full(group.N, float(value))
                if value.shape != (group.N,):
                    raise TrialInputError(
                        f"'{name}.{var}' has shape {value.shape}, expected a scalar or ({group.N},) in SI units"
                    )
                checked[(name, var)] = value
        return checked


def per_neuron_variables(population):
    """State variables and per-neuron parameters: what a trial may set per neuron."""
    equations = brian2.Equations(population.model.equations)
    return [
        eq.varname
        for eq in equations.ordered
        if eq.type in (DIFFERENTIAL_EQUATION, PARAMETER) and "shared" not in eq.flags
    ]


def generate_cuda_code(spec, steps, directory, record=None):
    """Write the brian2cuda project for ``spec`` without compiling (works without a GPU).

    Returns the project directory; its ``code_objects/`` hold the generated ``.cu`` files.
    """
    network = BrianNetwork(
        spec, engine="cuda_standalone", steps=steps, record=record, directory=directory, generate_only=True
    )
    return network.directory

"""Run the same network and inputs through several engines and measure how they agree.

This is the property the package stands on: with the same weights and inputs the
float64 twin and every Brian2 target produce identical spike trains, and the
float32 twin differs in a tiny, measured fraction of spikes.
"""

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import engines as known_engines
from . import seeds
from .progress import STDERR, Above, say
from .progress import bar as progress_bar
from .units import seconds


@dataclass
class EngineRun:
    """One engine's simulation of the checked network, in the shape both engines share (``BrianResult``'s)."""

    engine: str
    spikes: dict  # population -> bool (steps, N)
    states: dict  # (population, variable) -> float64 (steps, N), SI
    seconds: float
    note: str = ""


@dataclass
class CheckReport:
    """What ``check`` found: each engine's run and how far every pair of engines agrees."""

    model: str
    steps: int
    seed: int
    rate_hz: float
    runs: dict  # engine -> EngineRun (engines that simulated)
    skipped: dict = field(default_factory=dict)  # engine -> reason
    units: dict = field(default_factory=dict)  # (population, variable) -> SI unit symbol ("1": dimensionless)

    @property
    def spike_counts(self):
        """Spikes per engine: a first sign of an engine that diverged."""
        return {e: int(sum(s.sum() for s in r.spikes.values())) for e, r in self.runs.items()}

    def rates_hz(self, dt):
        """Mean rate per engine and population; ``dt`` in seconds."""
        return {e: {p: float(s.mean() / dt) for p, s in r.spikes.items()} for e, r in self.runs.items()}

    @property
    def agreement(self):
        """Spike agreement of every pair of engines that ran (1.0: identical spike trains)."""
        return {
            f"{a}~{b}": spike_agreement(self.runs[a].spikes, self.runs[b].spikes)
            for a, b in itertools.combinations(self.runs, 2)
        }

    @property
    def state_difference(self):
        """Per engine pair and recorded variable: the largest |difference|, in the variable's SI unit.

        ``{pair: {"POP.VAR": {"max_abs": ..., "max_abs_value": ..., "unit": "V"}}}``: one entry per variable,
        never one number mixing volts and amperes; ``max_abs_value`` (the largest |value| either engine
        reached) says what the difference is small against.
        """
        result = {}
        for a, b in itertools.combinations(self.runs, 2):
            shared = sorted(self.runs[a].states.keys() & self.runs[b].states.keys())
            result[f"{a}~{b}"] = {
                ".".join(key): {
                    "max_abs": float(np.max(np.abs(self.runs[a].states[key] - self.runs[b].states[key]), initial=0.0)),
                    "max_abs_value": float(max(np.max(np.abs(self.runs[e].states[key]), initial=0.0) for e in (a, b))),
                    "unit": self.units.get(key, "?"),
                }
                for key in shared
            }
        return result

    def as_json(self):
        """Every number of the report, for scripts (``check --json``)."""
        return {
            "model": self.model,
            "steps": self.steps,
            "seed": self.seed,
            "rate_hz": self.rate_hz,
            "spikes": self.spike_counts,
            "spike_agreement": self.agreement,
            "state_difference": self.state_difference,
            "seconds": {e: r.seconds for e, r in self.runs.items()},
            "skipped": self.skipped,
        }

    def as_text(self):
        """The report as a person reads it: one line per engine, per pair of engines and per variable."""
        lines = [f"{self.model}: {self.steps} steps, seed {self.seed}, Poisson inputs at {self.rate_hz:g} Hz"]
        for engine, run in self.runs.items():
            count = self.spike_counts[engine]
            lines.append(f"  {engine:<16} {count:>8} spikes  {run.seconds:7.2f} s  {run.note}")
        for engine, reason in self.skipped.items():
            lines.append(f"  {engine:<16} skipped: {reason}")
        differences = self.state_difference
        for pair, value in self.agreement.items():
            lines.append(f"  {pair:<34} spike agreement {value:.6f}")
            for variable, d in differences[pair].items():
                unit = "" if d["unit"] == "1" else f" {d['unit']}"
                lines.append(
                    f"    {variable:<20} max |difference| {d['max_abs']:.3g}{unit}"
                    f"  (values up to {d['max_abs_value']:.3g}{unit})"
                )
        return "\n".join(lines)


def spike_agreement(a, b):
    """2|A∩B| / (|A|+|B|) over (population, neuron, step) spike events; 1.0 when both are silent."""
    common = sum(int(np.logical_and(a[p], b[p]).sum()) for p in a)
    total = sum(int(a[p].sum()) + int(b[p].sum()) for p in a)
    return 1.0 if total == 0 else 2.0 * common / total


def poisson_inputs(spec, steps, rate_hz, seed):
    """{input name: (steps, n) 0/1} Poisson rasters from an explicit seed."""
    rng = seeds.generator(seed, "poisson_inputs")
    p = rate_hz * seconds(spec.dt, "dt")
    return {name: (rng.random((steps, group.size)) < p).astype(np.float64) for name, group in spec.inputs.items()}


def recorded_variables(spec):
    """Every state variable and readout output, for the state comparison."""
    return {
        name: sorted(p.state_variables | ({p.model.output} if p.model.output else set()))
        for name, p in spec.populations.items()
    }


def run_twin(spec, inputs, dtype, record):
    """One trial of the twin at ``dtype`` (a torch dtype or its name), batch axis dropped: (spikes, states, seconds)."""
    import torch

    from .twin import Twin

    start = time.perf_counter()
    twin = Twin(spec, dtype=getattr(torch, dtype) if isinstance(dtype, str) else dtype)
    pairs = [(p, v) for p, variables in record.items() for v in variables]
    with torch.no_grad():
        result = twin({n: torch.as_tensor(x)[:, None] for n, x in inputs.items()}, record=pairs)
    spikes = {p: s[:, 0].numpy().astype(bool) for p, s in result.spikes.items()}
    states = {k: v[:, 0].double().numpy() for k, v in result.states.items()}
    return spikes, states, time.perf_counter() - start


def run_brian(spec, inputs, engine, record, steps, directory, log=None):
    """One trial on a Brian2 engine: (spikes, states, seconds); (None, None, seconds) where CUDA can only generate.

    ``directory``: where the standalone project goes (None: a private folder in the cache, removed after).
    """
    from .brian import BrianNetwork, gpu_available

    start = time.perf_counter()
    generate_only = engine == "cuda_standalone" and not gpu_available()
    with BrianNetwork(
        spec, engine=engine, steps=steps, record=record, directory=directory, generate_only=generate_only, log=log
    ) as network:
        if generate_only:
            return None, None, time.perf_counter() - start
        result = network.run(inputs)
    return result.spikes, result.states, time.perf_counter() - start


def check(
    model,
    steps=2000,
    engines=("twin64", "twin32", "numpy"),
    seed=0,
    rate_hz=20.0,
    spec=None,
    directory=None,
    log=STDERR,
    progress=True,
):
    """Simulate one random network (weights from ``seed``) on ``engines``; return a CheckReport.

    ``directory``: keep each standalone project in ``directory/ENGINE`` (default: compiled binaries
    come from and go to the cache, nothing else is kept). ``progress``: a bar over the engines.
    """
    from .documents import load_network

    engines = known_engines.engine_list(engines)
    spec = spec or load_network(model, seed=seed)
    inputs = poisson_inputs(spec, steps, rate_hz, seed)
    record = recorded_variables(spec)
    units = {(p, v): str(spec.populations[p].unit(v)) for p, variables in record.items() for v in variables}
    report = CheckReport(model=str(model), steps=steps, seed=seed, rate_hz=rate_hz, runs={}, units=units)
    bar = progress_bar(len(engines), "check", enabled=progress and log is not None, unit="engine")
    above = Above(log) if log is not None else None
    for engine in engines:
        bar.set_postfix_str(engine)
        say(above, f"[check] {engine}: {steps} steps ...")
        if engine in known_engines.TWIN:
            spikes, states, elapsed = run_twin(spec, inputs, known_engines.TWIN[engine], record)
        else:
            where = None if directory is None else Path(directory) / engine
            spikes, states, elapsed = run_brian(spec, inputs, engine, record, steps, where, log=above)
            if spikes is None:
                kept = f"in {where}" if where else "and discarded (--build-dir keeps it)"
                report.skipped[engine] = f"no GPU here: CUDA code generated {kept} ({elapsed:.1f} s), not run"
                bar.update(1)
                continue
        report.runs[engine] = EngineRun(engine, spikes, states, elapsed)
        say(above, f"[check] {engine}: {elapsed:.1f} s")
        bar.update(1)
    bar.close()
    return report

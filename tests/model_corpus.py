"""A seeded generator of random Brian2 network documents inside the twin's supported class.

The models are written the way people write Brian2 models: physical units,
literal constants in thresholds and resets (``v > -40*mV``, ``v = -60*mV``),
named constants, reset sequences, ``(unless refractory)``, with and without a
refractory period, per-neuron parameters and subexpressions of ``i`` and ``N``,
time-dependent drive, linear and nonlinear equations (exponentials, squares,
products of state variables), integration methods left to Brian2 or named,
several populations and projections with delays. ``make_model(seed)`` returns
the document texts and the features it used, so a failure names the model class.
"""

from dataclasses import dataclass, field

import numpy as np

DT = ("1 ms", "0.5 ms", "0.1 ms")


@dataclass
class Model:
    seed: int
    network: str  # network document text
    neurons: dict  # file name -> neuron document text
    features: set = field(default_factory=set)
    input_size: int = 0

    def write(self, folder):
        for name, text in self.neurons.items():
            (folder / name).write_text(text)
        path = folder / f"net{self.seed}.yaml"
        path.write_text(self.network)
        return path


def _q(value, unit):
    return f"{value:.6g} {unit}"


# --------------------------------------------------------------------------- neuron families
# Each returns (document dict pieces, features, synaptic target variable and its unit).


def _lif(rng, name, dt_ms):
    features = {"lif"}
    tau_m = rng.uniform(8, 30)
    current = rng.random() < 0.5
    lines = []
    if current:
        lines.append("dv/dt = (E_L - v + R*I_syn) / tau_m : volt{unless}")
        lines.append("dI_syn/dt = -I_syn / tau_s : amp")
        target, unit = "I_syn", "nA"
        features.add("current synapse")
    else:
        lines.append("dv/dt = (E_L - v) / tau_m : volt{unless}")
        target, unit = "v", "mV"
    parameters = {
        "E_L": _q(rng.uniform(-70, -60), "mV"),
        "tau_m": _q(tau_m, "ms"),
        "R": "100 Mohm",
        "tau_s": _q(rng.uniform(2, 8), "ms"),
    }
    v_th = rng.uniform(-55, -48)
    literal_threshold = rng.random() < 0.5
    adaptive = rng.random() < 0.4
    if adaptive:
        lines.append("da/dt = -a / tau_a : volt")
        parameters["tau_a"] = _q(rng.uniform(50, 300), "ms")
        if rng.random() < 0.5:
            lines.append("tau_a_i = tau_a * (0.5 + i / N) : second")
            lines[-2] = "da/dt = -a / tau_a_i : volt"
            features.add("subexpression of i and N")
        features.add("adaptive threshold")
    if literal_threshold:
        threshold = f"v > {v_th:.4g}*mV" + (" + a" if adaptive else "")
        features.add("literal threshold")
    else:
        parameters["V_th"] = _q(v_th, "mV")
        threshold = "v > V_th + a" if adaptive else rng.choice(["v > V_th", "V_th < v", "v >= V_th"])
        features.add("named threshold")
    v_r = rng.uniform(-70, -60)
    reset_kind = rng.integers(3)
    if reset_kind == 0:
        reset = [f"v = {v_r:.4g}*mV"]
        features.add("literal reset")
    elif reset_kind == 1:
        parameters["V_r"] = _q(v_r, "mV")
        reset = ["v = V_r"]
        features.add("named reset")
    else:
        parameters["delta_v"] = _q(rng.uniform(10, 20), "mV")
        reset = ["v -= delta_v"]
        features.add("subtractive reset")
    if adaptive:
        parameters["d_a"] = _q(rng.uniform(0.5, 3), "mV")
        reset.insert(int(rng.integers(2)), "a += d_a")
        features.add("reset sequence")
    method = rng.choice([None, "exact", "euler", "rk2", "exponential_euler"])
    return dict(
        lines=lines,
        threshold=threshold,
        reset=reset,
        parameters=parameters,
        initial={"v": _q(v_r, "mV")},
        method=method,
        target=target,
        unit=unit,
        features=features,
    )


def _adex(rng, name, dt_ms):
    features = {"adex", "exponential nonlinearity"}
    lines = [
        "dv/dt = (g_L*(E_L - v) + g_L*Delta_T*exp((v - V_T)/Delta_T) - w_a + I_syn + I_b) / C : volt{unless}",
        "dw_a/dt = (a_w*(v - E_L) - w_a) / tau_w : amp",
        "dI_syn/dt = -I_syn / tau_s : amp",
        "I_b : amp  # per-neuron parameter",
    ]
    features.add("per-neuron parameter")
    parameters = {
        "C": "281 pF",
        "g_L": "30 nS",
        "E_L": "-70.6 mV",
        "V_T": _q(rng.uniform(-52, -48), "mV"),
        "Delta_T": _q(rng.uniform(1.5, 3), "mV"),
        "tau_w": _q(rng.uniform(80, 200), "ms"),
        "a_w": _q(rng.uniform(1, 6), "nS"),
        "b_w": _q(rng.uniform(20, 100), "pA"),
        "tau_s": "5 ms",
    }
    threshold = "v > -40*mV" if rng.random() < 0.5 else "v > V_cut"
    if "V_cut" in threshold:
        parameters["V_cut"] = "-40 mV"
    features.add("literal threshold" if "*mV" in threshold else "named threshold")
    reset = ["v = -70.6*mV", "w_a += b_w"] if rng.random() < 0.5 else ["w_a += b_w", "v = E_L"]
    features.add("reset sequence")
    return dict(
        lines=lines,
        threshold=threshold,
        reset=reset,
        parameters=parameters,
        initial={"v": "-70.6 mV", "I_b": _q(rng.uniform(0, 200), "pA")},
        method=rng.choice(["euler", "rk2", "rk4"]),
        target="I_syn",
        unit="nA",
        features=features,
    )


def _izhikevich(rng, name, dt_ms):
    features = {"izhikevich", "squares and products of state variables"}
    lines = [
        "dv/dt = (0.04*v**2/mV + 5*v + 140*mV - u + I_syn*ohm_eff) / ms : volt{unless}",
        "du/dt = a_iz*(b_iz*v - u) / ms : volt",
        "dI_syn/dt = -I_syn / tau_s : amp",
    ]
    parameters = {
        "a_iz": _q(rng.uniform(0.02, 0.1), "1"),
        "b_iz": _q(rng.uniform(0.2, 0.25), "1"),
        "ohm_eff": "1 Mohm",
        "tau_s": "5 ms",
        "d_iz": _q(rng.uniform(2, 8), "mV"),
    }
    return dict(
        lines=lines,
        threshold="v >= 30*mV",
        reset=["v = -65*mV", "u += d_iz"],
        parameters=parameters,
        initial={"v": "-65 mV", "u": "-13 mV"},
        method=rng.choice(["euler", "rk2"]),
        target="I_syn",
        unit="nA",
        features=features | {"literal threshold", "reset sequence"},
    )


def _conductance(rng, name, dt_ms):
    features = {"conductance-based", "products of state variables"}
    lines = [
        "dv/dt = (g_L*(E_L - v) + g_e*(E_e - v) + I_t) / C : volt{unless}",
        "dg_e/dt = -g_e / tau_e : siemens",
        "I_t = I_0*(1 + sin(2*pi*f_0*t)) : amp  # time-dependent drive",
    ]
    features.add("time-dependent subexpression")
    parameters = {
        "g_L": "10 nS",
        "E_L": "-65 mV",
        "E_e": "0 mV",
        "C": "200 pF",
        "tau_e": _q(rng.uniform(2, 6), "ms"),
        "I_0": _q(rng.uniform(50, 150), "pA"),
        "f_0": _q(rng.uniform(2, 20), "Hz"),
        "V_th": "-50 mV",
        "V_r": "-60 mV",
    }
    return dict(
        lines=lines,
        threshold="v > V_th",
        reset=["v = V_r"],
        parameters=parameters,
        initial={"v": "-65 mV"},
        method=rng.choice([None, "euler", "rk2", "exponential_euler"]),
        target="g_e",
        unit="nS",
        features=features | {"named threshold", "named reset"},
    )


def _dimensionless(rng, name, dt_ms):
    features = {"dimensionless"}
    kind = rng.integers(2)
    if kind == 0:
        lines = ["dx/dt = (-x + x_b) / tau : 1{unless}", "x_b : 1"]
        features.add("per-neuron parameter")
        threshold, reset = rng.choice(["x > 1", "x > 0.9 + 0.1*i/N"]), ["x = 0"]
        if "i/N" in threshold:
            features.add("subexpression of i and N")
        initial = {"x_b": _q(rng.uniform(0.2, 0.8), "1")}
    else:  # quadratic integrate-and-fire
        lines = ["dx/dt = (x**2 + x_b) / tau : 1{unless}", "x_b : 1"]
        features.add("squares and products of state variables")
        threshold, reset = "x > 10", ["x = -1"]
        initial = {"x": "-1", "x_b": _q(rng.uniform(-0.5, -0.1), "1")}
    return dict(
        lines=lines,
        threshold=threshold,
        reset=reset,
        parameters={"tau": _q(rng.uniform(5, 20), "ms")},
        initial=initial,
        method=rng.choice([None, "euler", "rk4"]),
        target="x",
        unit="1",
        features=features | {"literal threshold", "literal reset"},
    )


FAMILIES = (_lif, _adex, _izhikevich, _conductance, _dimensionless)
INPUT_SCALE = {"mV": 8.0, "nA": 0.8, "nS": 8.0, "1": 0.3}


def _neuron_document(rng, name, dt_ms):
    # AdEx's exponential overflows within one step at dt >= 0.5 ms: users integrate it at 0.1 ms.
    families = [f for f in FAMILIES if f is not _adex or dt_ms <= 0.1]
    family = families[int(rng.integers(len(families)))]
    spec = family(rng, name, dt_ms)
    refractory = None
    if rng.random() < 0.7:
        refractory = _q(float(rng.choice([1, 2, 3, 5])) * max(dt_ms, 1.0), "ms")
        spec["features"].add("refractory")
        unless = rng.random() < 0.5
        if unless:
            spec["features"].add("unless refractory")
    else:
        unless = False
        spec["features"].add("no refractory period")
    lines = [line.replace("{unless}", " (unless refractory)" if unless else "") for line in spec["lines"]]
    if spec["method"] is None:
        spec["features"].add("method chosen by Brian2")
    else:
        spec["features"].add(f"method {spec['method']}")
    text = [f"neuron: {name}", "equations: |"] + [f"  {line}" for line in lines]
    text.append(f"threshold: '{spec['threshold']}'")
    text.append("reset: |")
    text += [f"  {line}" for line in spec["reset"]]
    if refractory:
        text.append(f"refractory: {refractory}")
    if spec["method"] is not None:
        text.append(f"method: {spec['method']}")
    text.append("parameters:")
    text += [f"  {k}: {v}" for k, v in spec["parameters"].items()]
    if spec["initial"]:
        text.append("initial:")
        text += [f"  {k}: {v}" for k, v in spec["initial"].items()]
    target, unit = spec["target"], spec["unit"]
    weight_unit = {"mV": "volt", "nA": "amp", "nS": "siemens", "1": "1"}[unit]
    coefficient = ""
    if unit == "mV" and rng.random() < 0.5:
        coefficient = "(1 - exp(-dt / tau_m)) * "
        spec["features"].add("on_pre coefficient")
    text += ["synapse:", f"  model: 'w : {weight_unit}'", f"  on_pre: '{target}_post += {coefficient}w'"]
    return "\n".join(text) + "\n", spec["features"], unit, bool(coefficient)


def make_model(seed):
    """A random network document (and its neuron documents) for ``seed``."""
    rng = np.random.default_rng([seed, 2024])
    dt = str(rng.choice(DT))
    dt_ms = float(dt.split()[0])
    n_populations = int(rng.choice([1, 1, 2, 3]))
    neurons, features, populations, units = {}, set(), [], {}
    for k in range(n_populations):
        name = f"P{k}"
        text, used, unit, scaled = _neuron_document(rng, f"neuron{seed}_{k}", dt_ms)
        neurons[f"neuron{seed}_{k}.yaml"] = text
        features |= used
        size = int(rng.integers(8, 41))
        populations.append((name, f"neuron{seed}_{k}.yaml", size))
        units[name] = (unit, scaled)
    n_in = int(rng.integers(10, 41))
    lines = [f"network: corpus{seed}", f"dt: {dt}", "inputs:", f"  x: {{size: {n_in}}}", "populations:"]
    lines += [f"  {name}: {{neuron: {file}, size: {size}}}" for name, file, size in populations]
    lines.append("projections:")
    max_delay_steps = int(rng.integers(0, 6))
    for name, _, _ in populations:
        unit, scaled = units[name]
        scale = INPUT_SCALE[unit] * (12 if scaled else 1) * np.sqrt(n_in / 20)
        delay = _delay(rng, dt_ms, 0, max_delay_steps)
        connectivity = float(rng.choice([1.0, 0.5, 0.3]))
        lines.append(
            f"  in_{name}: {{source: x, target: {name}, connectivity: {connectivity}, "
            f"weights: {{init: normal, scale: {_q(scale, unit)}}}, delay: {delay}}}"
        )
    for pre, _, _ in populations:
        for post, _, _ in populations:
            if rng.random() < 0.6:
                unit, scaled = units[post]
                scale = INPUT_SCALE[unit] * (12 if scaled else 1) * 0.5
                delay = _delay(rng, dt_ms, 0 if rng.random() < 0.3 else 1, max(1, max_delay_steps))
                if delay.startswith("0 "):
                    features.add("same-step recurrent synapses")
                else:
                    features.add("delayed recurrent synapses")
                lines.append(
                    f"  {pre}_to_{post}: {{source: {pre}, target: {post}, connectivity: 0.3, "
                    f"weights: {{init: normal, scale: {_q(scale, unit)}}}, delay: {delay}}}"
                )
    features.add(f"{n_populations} population{'s' if n_populations > 1 else ''}")
    features.add(f"dt {dt}")
    return Model(seed=seed, network="\n".join(lines) + "\n", neurons=neurons, features=features, input_size=n_in)


def _delay(rng, dt_ms, low_steps, high_steps):
    if high_steps <= low_steps or rng.random() < 0.3:
        return f"{low_steps * dt_ms:g} ms"
    return f"{{uniform: [{low_steps * dt_ms:g} ms, {high_steps * dt_ms:g} ms]}}"


def calibrated(spec, seed, steps, rate_range=(5.0, 120.0)):
    """(spec with scaled input weights, Poisson rate in Hz) giving a mean firing rate in ``rate_range`` Hz, or None.

    A random model may be silent or saturate at the generator's weight scale;
    the input gain and rate are searched, with the float64 twin, until it fires
    at a rate worth comparing.
    """
    import torch

    from lsnn_bio.check import poisson_inputs, run_twin

    for gain in (1.0, 3.0, 10.0, 0.3, 30.0, 0.1):
        scaled = spec.with_weights({p.name: p.w * gain for p in spec.projections if p.source in spec.inputs})
        for rate in (5.0, 20.0, 80.0):
            spikes, _, _ = run_twin(scaled, poisson_inputs(scaled, steps, rate, seed), torch.float64, {})
            if rate_range[0] <= mean_rate(spikes, float(spec.dt)) <= rate_range[1]:
                return scaled, rate
    return None


def mean_rate(spikes, dt):
    """Mean firing rate in Hz over all neurons of {population: (steps, N)} rasters."""
    total = sum(int(s.sum()) for s in spikes.values())
    neurons = sum(s.shape[1] for s in spikes.values())
    steps = next(iter(spikes.values())).shape[0]
    return total / max(neurons, 1) / (steps * dt)


def assert_same_as_brian(report, where):
    """twin64 and Brian2 numpy: identical spikes, and states that differ only by roundoff.

    The twin sums a step's synaptic inputs before adding them, Brian2 adds them one
    synapse at a time, so a state can differ by an ulp. Where states first differ,
    the difference must be that small (1e-14 of the variable's range, where a wrong
    model differs by far more). Chaotic dynamics (the v**2 of Izhikevich) may then
    amplify it; spikes must stay identical until that amplified difference exceeds
    1e-6 of a variable's range, after which the two runs are different samples of
    the same chaotic model. Returns the step where that happened (None if never).
    """
    import numpy as np

    twin, brian = report.runs["twin64"], report.runs["numpy"]
    grown = None  # the first step at which roundoff has grown past 1e-6
    for key, expected in brian.states.items():
        relative = _relative(twin.states[key], expected)
        if relative.max() == 0:
            continue
        first = int(np.argmax(relative > 0))
        name = ".".join(key)
        assert relative[first] <= 1e-14, (
            f"{where}: {name} first differs by {relative[first]:.2e} (relative) at step {first}"
        )
        if relative.max() > 1e-6:
            step = int(np.argmax(relative > 1e-6))
            grown = step if grown is None else min(grown, step)
    for population in brian.spikes:
        differing = np.argwhere(twin.spikes[population] != brian.spikes[population])
        if len(differing):
            step = int(differing[0][0])
            assert grown is not None and grown < step, (
                f"{where}: {population} spikes differ first at (step, neuron) {tuple(differing[0])}, before any "
                "roundoff grew past 1e-6"
            )
    return grown


def max_relative_difference(report):
    """The largest state difference between twin64 and Brian2, relative to each variable's range."""

    twin, brian = report.runs["twin64"], report.runs["numpy"]
    return max((float(_relative(twin.states[k], v).max()) for k, v in brian.states.items()), default=0.0)


def _relative(actual, expected):
    """Per step, the largest |difference| relative to the variable's finite range; equal infinities and
    NaNs (a model that diverged in both engines alike) count as equal, any other mismatch as infinite."""
    import numpy as np

    finite = np.isfinite(expected)
    scale = max(float(np.abs(expected[finite]).max()) if finite.any() else 0.0, 1e-300)
    same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    difference = np.where(same, 0.0, np.abs(actual - expected))
    difference = np.where(np.isnan(difference), np.inf, difference)
    return difference.max(axis=1) / scale

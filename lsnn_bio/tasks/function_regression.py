"""Learning-to-learn regression (reference section 3.4): every episode is a new function, learned from its examples.

An episode draws one target function F and ``examples`` inputs x_1..x_K. Example k lasts
``example_ms``; during it the network sees x_k together with the *previous* target F(x_{k-1})
(nothing in that channel during the first example) and must answer F(x_k): the prediction is the
readout averaged over the last ``readout_ms`` of the example (default: all of it). Weights stay
fixed within an episode, so whatever improves from example to example is learned by the network's
dynamics. Defaults: 100 examples of 20 ms, an episode of 2 s = 2,000 steps at ``dt_ms`` = 1.
The trainer's loss is the MSE over all examples of an episode (``RegressionBatch``); scores and
baselines are in ``regression_scores.py`` and ``backprop_baseline.py``.

Families (``family``):
- ``network``: the paper's target networks, F(x) = w2 . sigmoid(W1 x + b1) + b2 with 2 inputs,
  ``hidden_units`` sigmoids, and every weight and bias drawn from U[-1, 1]; x ~ U[-input_range,
  input_range]^2. With weights this small F is nearly linear on [-1, 1]^2: a least-squares plane
  leaves 0.5 % of the variance of F within an episode (over 2,000 functions), so a learner could
  never beat the linear baseline there. The default range [-5, 5]^2 leaves 6 % (the choice is ours;
  the paper does not give the range).
- ``sine``: the MAML family, F(x) = A sin(x + phi), A ~ U[0.1, 5], phi ~ U[0, pi], x ~ U[-5, 5]
  (``input_range``); one input.

Encoding: the inputs are ``n_inputs`` neurons split evenly between the encoded variables (x_1, x_2,
previous target for ``network``: 3 x 100; x, previous target for ``sine``: 2 x 150). Each variable
is population-coded over its range [lo, hi] (x: +-input_range; target: +-target_range, values
outside are clipped to the edge for encoding only) by Gaussian tuning curves with centres evenly
spaced from lo to hi and width sigma = ``tuning_width`` * (hi - lo), so neuron i fires at rate_i =
``rate_hz`` * exp(-(v - c_i)^2 / (2 sigma^2)). With the defaults a variable inside its range gets
about 25 spikes per 20 ms example. How a rate becomes spikes (``encoding``):
- ``bernoulli``: a spike in every step with probability rate_i * dt (Poisson-like counts);
- ``regular``: every neuron sums rate_i * dt step by step from a random phase, drawn per neuron
  and episode, and spikes in the step where the sum crosses a whole number: its count never
  drifts more than one spike from its rate's integral, in an example or over the episode, so the
  code carries x with almost no counting noise while spike times still differ between neurons
  and episodes.

Splits: training functions come from the caller's generator. The held-out functions, with their
inputs and spikes, come from the named streams of the task's ``seed`` (``seeds.py``): function i of
``validation`` from ``seeds.generator(seed, "validation", i)``, of ``test`` likewise, so a held-out
episode is the same whatever the batch it is drawn in.
"""

from dataclasses import dataclass, field

import numpy as np

from .. import seeds
from .base import HELD_OUT, Task, TaskError, ms_to_steps, positive_int

FAMILIES = ("network", "sine")
ENCODINGS = ("bernoulli", "regular")
_TARGET_RANGE = {"network": 4.0, "sine": 5.0}  # 'network' at input_range 5: |F| > 4 in fewer than 1e-3 of draws


@dataclass(frozen=True)
class TargetFunctions:
    """A batch of target functions of one family; call it on x (batch, n, d) to get F(x) (batch, n, 1)."""

    family: str
    params: dict

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        p = self.params
        if self.family == "sine":
            return (p["amplitude"][:, None] * np.sin(x[..., 0] + p["phase"][:, None]))[..., None]
        hidden = 1.0 / (1.0 + np.exp(-(np.einsum("bhd,bnd->bnh", p["W1"], x) + p["b1"][:, None, :])))
        return (np.einsum("bnh,bh->bn", hidden, p["w2"]) + p["b2"][:, None])[..., None]

    @staticmethod
    def concatenate(parts):
        return TargetFunctions(
            parts[0].family, {k: np.concatenate([f.params[k] for f in parts]) for k in parts[0].params}
        )


@dataclass
class RegressionBatch:
    """One batch of episodes, time-major like ``base.Batch`` but with real-valued targets instead of labels.

    ``inputs`` (steps, batch, n_inputs) float32 0/1 spikes in steps of ``dt_ms``; ``windows``
    (batch, K, 2) int64 ``[start, stop)`` steps, the prediction for example k is the mean readout
    over window k; ``targets`` (batch, K, n_outputs) float64 F(x_k); ``x`` (batch, K, n_x) the
    inputs x_k (for baselines and figures); ``mask`` (batch, K) bool (all True: every example
    counts); ``functions`` the drawn F; ``events`` per episode ``(step, duration_steps, "example",
    "k")`` tuples for Neo epochs.
    """

    inputs: np.ndarray
    windows: np.ndarray
    targets: np.ndarray
    x: np.ndarray
    mask: np.ndarray
    functions: TargetFunctions
    events: list = field(default_factory=list)

    @property
    def size(self):
        return self.inputs.shape[1]

    @property
    def steps(self):
        return self.inputs.shape[0]


def population_rates(values, lo, hi, neurons, tuning_width, rate_hz):
    """Rates in Hz (..., neurons) of Gaussian tuning curves tiling [lo, hi]; values are clipped to it."""
    centres = np.linspace(lo, hi, neurons)
    sigma = tuning_width * (hi - lo)
    v = np.clip(np.asarray(values, dtype=np.float64), lo, hi)[..., None]
    return rate_hz * np.exp(-((v - centres) ** 2) / (2.0 * sigma**2))


def _crossings(phase, p, example_steps):
    """Spikes (K * example_steps, count, n) where phase + the running sum of p (count, K, n; per step, constant
    within an example) crosses a whole number. Each example counts from the whole number below its start, in
    float64 (float32 put a crossing at a boundary into both examples about once in 1e6). Spike by spike, not
    step by step: most neurons are silent in most examples, which makes this 3x faster than flooring every step."""
    p = p.astype(np.float64)
    start = phase + np.concatenate([np.zeros_like(p[:, :1]), np.cumsum(p * example_steps, axis=1)[:, :-1]], axis=1)
    fraction = start - np.floor(start)
    crossings = np.floor(fraction + example_steps * p)  # per example
    count, examples, n = p.shape
    spikes = np.zeros((examples, example_steps, count, n), dtype=bool)
    for j in range(1, int(crossings.max(initial=0)) + 1):  # the j-th crossing of every example that has one
        c, k, i = np.nonzero(crossings >= j)
        f, q = fraction[c, k, i], p[c, k, i]
        step = np.ceil((j - f) / q)  # the first step with floor(f + step * q) >= j, up to rounding, corrected:
        step -= np.floor(f + (step - 1) * q) >= j
        step += np.floor(f + step * q) < j
        spikes[k, step.astype(np.int64) - 1, c, i] = True
    return spikes.reshape(examples * example_steps, count, n)


class FunctionRegression(Task):
    """Predict F(x_k) from x_k and F(x_{k-1}) for a new F every episode (see the module docstring)."""

    name = "function_regression"
    n_classes = 0

    def __init__(
        self,
        family="network",
        examples=100,
        example_ms=20,
        readout_ms=None,
        hidden_units=10,
        n_inputs=300,
        input_range=5.0,
        target_range=None,
        tuning_width=0.05,
        rate_hz=100.0,
        encoding="bernoulli",
        validation_functions=128,
        test_functions=128,
        seed=0,
        dt_ms=1.0,
    ):
        self._options = dict(
            family=family,
            examples=examples,
            example_ms=example_ms,
            readout_ms=readout_ms,
            hidden_units=hidden_units,
            n_inputs=n_inputs,
            input_range=input_range,
            target_range=target_range,
            tuning_width=tuning_width,
            rate_hz=rate_hz,
            encoding=encoding,
            validation_functions=validation_functions,
            test_functions=test_functions,
            seed=seed,
            dt_ms=dt_ms,
        )
        if family not in FAMILIES:
            raise TaskError(
                f"task '{self.name}': unknown family {family!r} (accepted: {', '.join(map(repr, FAMILIES))})"
            )
        self.family = family
        if encoding not in ENCODINGS:
            raise TaskError(
                f"task '{self.name}': unknown encoding {encoding!r} (accepted: {', '.join(map(repr, ENCODINGS))})"
            )
        self.encoding = encoding
        self.dt_ms = self._positive_number("dt_ms", dt_ms)
        self.examples = positive_int(self.name, "examples", examples)
        if self.examples < 2:
            raise TaskError(
                f"task '{self.name}': option examples must be at least 2 (test_mse reads the second half), got {examples!r}"
            )
        self.example_steps = ms_to_steps(self.name, "example_ms", example_ms, self.dt_ms)
        self.readout_steps = (
            self.example_steps if readout_ms is None else ms_to_steps(self.name, "readout_ms", readout_ms, self.dt_ms)
        )
        if self.readout_steps > self.example_steps:
            raise TaskError(
                f"task '{self.name}': option readout_ms={readout_ms!r} is longer than example_ms={example_ms!r}"
            )
        self.hidden_units = positive_int(self.name, "hidden_units", hidden_units)
        self.n_x = 2 if family == "network" else 1
        self.n_outputs = 1
        self.n_inputs = positive_int(self.name, "n_inputs", n_inputs)
        variables = self.n_x + 1
        if self.n_inputs % variables:
            raise TaskError(
                f"task '{self.name}': option n_inputs={n_inputs!r} must be a multiple of {variables} "
                f"(the family '{family}' encodes {variables} variables with equally many neurons)"
            )
        self.neurons_per_variable = self.n_inputs // variables
        self.input_range = self._positive_number("input_range", input_range)
        self.target_range = (
            _TARGET_RANGE[family] if target_range is None else self._positive_number("target_range", target_range)
        )
        self.tuning_width = self._positive_number("tuning_width", tuning_width)
        self.rate_hz = self._positive_number("rate_hz", rate_hz)
        if self.rate_hz * self.dt_ms / 1000.0 > 1:
            raise TaskError(
                f"task '{self.name}': option rate_hz must be at most {1000 / self.dt_ms:g} Hz at dt_ms={self.dt_ms:g}, got {rate_hz!r}"
            )
        self._held_out = {
            "validation": positive_int(self.name, "validation_functions", validation_functions),
            "test": positive_int(self.name, "test_functions", test_functions),
        }
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise TaskError(f"task '{self.name}': option seed must be an integer >= 0, got {seed!r}")
        self.seed = int(seed)
        self.steps = self.examples * self.example_steps

    def _positive_number(self, option, value):
        ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
        if not ok or not np.isfinite(value) or value <= 0:
            unit = {"_hz": "Hz", "_ms": "ms"}.get(option[-3:])  # the unit is in the option's name, not its value
            raise TaskError(
                f"task '{self.name}': option {option} must be a positive finite number, got {value!r}"
                + (f" (accepted: a plain number of {unit}, without the unit)" if unit else "")
            )
        return float(value)

    # -- functions and examples --------------------------------------------------------------

    def draw_functions(self, count, rng):
        """``count`` target functions of the task's family, from ``rng``."""
        if self.family == "sine":
            return TargetFunctions(
                "sine", {"amplitude": rng.uniform(0.1, 5.0, count), "phase": rng.uniform(0.0, np.pi, count)}
            )
        h = self.hidden_units
        return TargetFunctions(
            "network",
            {
                "W1": rng.uniform(-1, 1, (count, h, 2)),
                "b1": rng.uniform(-1, 1, (count, h)),
                "w2": rng.uniform(-1, 1, (count, h)),
                "b2": rng.uniform(-1, 1, count),
            },
        )

    def input_rates(self, x, targets):
        """Rates in Hz (batch, K, n_inputs) of every example: x_k, then F(x_{k-1}) (silent for k = 0)."""
        n = self.neurons_per_variable
        r = self.input_range
        groups = [population_rates(x[..., d], -r, r, n, self.tuning_width, self.rate_hz) for d in range(self.n_x)]
        previous = population_rates(
            targets[..., 0], -self.target_range, self.target_range, n, self.tuning_width, self.rate_hz
        )
        previous = np.concatenate([np.zeros_like(previous[:, :1]), previous[:, :-1]], axis=1)
        return np.concatenate(groups + [previous], axis=-1)

    def encode(self, x, targets, rng):
        """Input spikes (steps, count, n_inputs) bool of episodes with these x and targets (count, K, ...), from
        ``rng``: drawn again with another generator, the same examples reach the network as other spikes."""
        count = len(x)
        p = (self.input_rates(x, targets) * (self.dt_ms / 1000.0)).astype(np.float32)  # (count, K, n)
        if self.encoding == "bernoulli":
            uniform = rng.random((self.examples, self.example_steps, count, self.n_inputs), dtype=np.float32)
            spikes = uniform < p.transpose(1, 0, 2)[:, None]
        else:
            spikes = _crossings(rng.random((count, 1, self.n_inputs)), p, self.example_steps)
        return spikes.reshape(self.steps, count, self.n_inputs)

    def _episodes(self, count, rng):
        """Functions, inputs, targets and spikes of ``count`` episodes, in this order from ``rng``."""
        functions = self.draw_functions(count, rng)
        x = rng.uniform(-self.input_range, self.input_range, (count, self.examples, self.n_x))
        targets = functions(x)
        return functions, x, targets, self.encode(x, targets, rng)

    def _batch(self, functions, x, targets, spikes):
        size = len(x)
        starts = np.arange(self.examples) * self.example_steps
        windows = np.empty((size, self.examples, 2), dtype=np.int64)
        windows[..., 0] = starts + self.example_steps - self.readout_steps
        windows[..., 1] = starts + self.example_steps
        events = [[(int(s), self.example_steps, "example", str(k)) for k, s in enumerate(starts)] for _ in range(size)]
        return RegressionBatch(
            inputs=spikes.astype(np.float32),
            windows=windows,
            targets=targets,
            x=x,
            mask=np.ones((size, self.examples), dtype=bool),
            functions=functions,
            events=events,
        )

    def _held_out_episodes(self, split, indices):
        """Held-out episodes ``indices`` of ``split``, each drawn alone from its own stream."""
        parts = [self._episodes(1, seeds.generator(self.seed, split, int(i))) for i in indices]
        functions, x, targets, spikes = zip(*parts)
        return self._batch(
            TargetFunctions.concatenate(functions),
            np.concatenate(x),
            np.concatenate(targets),
            np.concatenate(spikes, axis=1),
        )

    # -- the task interface ------------------------------------------------------------------

    def batch(self, split, size, rng) -> RegressionBatch:
        """``size`` episodes: new functions from ``rng`` for ``train``, else held-out functions picked by ``rng``."""
        self._check_split(split)
        size = self._check_size(size)
        self._check_rng(rng)
        if split == "train":
            return self._batch(*self._episodes(size, rng))
        n = self._held_out[split]
        return self._held_out_episodes(split, rng.choice(n, size=size, replace=size > n))

    def batches(self, split, size):
        """The whole held-out ``split`` in order, in batches of at most ``size`` episodes."""
        self._check_split(split, HELD_OUT)
        size = self._check_size(size)
        n = self._held_out[split]
        for start in range(0, n, size):
            yield self._held_out_episodes(split, range(start, min(start + size, n)))

    def split_size(self, split):
        """Number of held-out functions; ``None`` for ``train`` (a new function every episode)."""
        self._check_split(split)
        return None if split == "train" else self._held_out[split]

"""L2L regression: targets against the families written out again here, spike rates against the
documented tuning curves, split hygiene, and the linear baseline against linear functions."""

import numpy as np
import pytest

from lsnn_bio.tasks import TASKS, TaskError, make_task
from lsnn_bio.tasks.backprop_baseline import backprop_predictions
from lsnn_bio.tasks.function_regression import FunctionRegression, _crossings, population_rates
from lsnn_bio.tasks.regression_scores import (
    linear_baseline_by_example,
    linear_baseline_mse,
    linear_predictions,
    plane_decomposition,
    spread_decomposition,
    test_mse,
    test_mse_by_example,
)


def small(**options):
    return FunctionRegression(
        **{"examples": 6, "example_ms": 10, "validation_functions": 12, "test_functions": 12, **options}
    )


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_network_targets_are_the_two_layer_net_with_uniform_weights():
    batch = small(hidden_units=7).batch("train", 20, np.random.default_rng(1))
    p = batch.functions.params
    assert (
        p["W1"].shape == (20, 7, 2) and p["b1"].shape == (20, 7) and p["w2"].shape == (20, 7) and p["b2"].shape == (20,)
    )
    for values in p.values():
        assert values.min() >= -1 and values.max() <= 1
    assert np.abs(batch.x).max() <= 5 and batch.x.shape == (20, 6, 2)
    for b in range(20):
        for k in range(6):
            hidden = [_sigmoid(p["W1"][b, h] @ batch.x[b, k] + p["b1"][b, h]) for h in range(7)]
            expected = sum(p["w2"][b, h] * hidden[h] for h in range(7)) + p["b2"][b]
            assert batch.targets[b, k, 0] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_sine_targets_follow_maml_ranges():
    batch = small(family="sine").batch("train", 200, np.random.default_rng(2))
    amplitude, phase = batch.functions.params["amplitude"], batch.functions.params["phase"]
    assert 0.1 <= amplitude.min() and amplitude.max() <= 5 and 0 <= phase.min() and phase.max() <= np.pi
    assert batch.x.shape == (200, 6, 1) and np.abs(batch.x).max() <= 5
    np.testing.assert_allclose(batch.targets[..., 0], amplitude[:, None] * np.sin(batch.x[..., 0] + phase[:, None]))
    assert batch.inputs.shape == (60, 200, 300)


def test_windows_mask_events_and_readout_part():
    task = small(readout_ms=4)
    batch = task.batch("train", 3, np.random.default_rng(0))
    assert task.steps == 60 and batch.inputs.shape == (60, 3, 300) and batch.inputs.dtype == np.float32
    np.testing.assert_array_equal(batch.windows[1], [[6, 10], [16, 20], [26, 30], [36, 40], [46, 50], [56, 60]])
    assert batch.mask.all() and batch.targets.shape == (3, 6, 1)
    assert batch.events[2][3] == (30, 10, "example", "3")


def test_spike_rates_are_the_documented_tuning_curves():
    """Counts per neuron against rate * dt from Gaussian curves written here, group by group."""
    task = FunctionRegression(examples=40, example_ms=20, test_functions=100)
    batch = next(task.batches("test", 100))
    spikes = batch.inputs.reshape(40, 20, 100, 300).sum(axis=1)  # (K, functions, neurons) counts per example

    def curve(value, lo, hi):
        centres = lo + (hi - lo) * np.arange(100) / 99
        sigma = 0.05 * (hi - lo)
        return 100.0 * np.exp(-((np.clip(value, lo, hi)[..., None] - centres) ** 2) / (2 * sigma**2))

    previous = np.concatenate([np.full((100, 1), np.nan), batch.targets[:, :-1, 0]], axis=1)
    expected = np.concatenate(
        [
            curve(batch.x[..., 0], -5, 5),
            curve(batch.x[..., 1], -5, 5),
            np.nan_to_num(curve(previous, -4, 4) * ~np.isnan(previous)[..., None]),
        ],
        axis=-1,
    )
    expected = expected.transpose(1, 0, 2) * 20 / 1000  # expected count per example
    assert not spikes[0, :, 200:].any()  # no previous target during the first example
    for group in range(3):
        s = slice(100 * group, 100 * (group + 1))
        observed, mean = spikes[..., s].sum(), expected[..., s].sum()
        assert abs(observed - mean) < 5 * np.sqrt(mean), (group, observed, mean)
        # and the spikes sit where the curve says: neurons binned by expected count fire as expected
        for lo, hi in [(0, 0.02), (0.02, 0.2), (0.2, 0.8), (0.8, 3)]:
            chosen = (expected[..., s] >= lo) & (expected[..., s] < hi)
            observed, mean = spikes[..., s][chosen].sum(), expected[..., s][chosen].sum()
            assert abs(observed - mean) < 5 * np.sqrt(mean) + 1, (group, lo, observed, mean)
    per_variable = expected[1:, :, :100].sum(axis=-1)
    assert 15 < per_variable.mean() < 30  # "about 25 spikes per variable per 20 ms example"


@pytest.mark.parametrize("seed", range(3))
def test_regular_encoding_counts_each_rate_to_within_one_spike(seed):
    """Every neuron's count per example is rate * duration rounded up or down, over random rates and
    rate changes at example boundaries."""
    rng = np.random.default_rng(seed)
    task = small(encoding="regular", rate_hz=float(rng.uniform(20, 1000)), example_ms=int(rng.integers(3, 30)))
    batch = task.batch("train", 9, rng)
    assert batch.inputs.dtype == np.float32 and set(np.unique(batch.inputs)) <= {0.0, 1.0}
    counts = batch.inputs.reshape(task.examples, task.example_steps, 9, 300).sum(axis=1)
    expected = task.input_rates(batch.x, batch.targets).transpose(1, 0, 2) * task.example_steps / 1000
    assert np.abs(counts - expected).max() < 1 + 1e-6
    cumulative = np.cumsum(batch.inputs, axis=0) - np.cumsum(
        np.repeat(expected / task.example_steps, task.example_steps, axis=0), axis=0
    )
    assert np.abs(cumulative).max() < 1 + 1e-6  # the running count never drifts from the running rate either


@pytest.mark.parametrize("seed", range(4))
def test_regular_encoding_is_the_whole_episodes_level_crossing_whole_numbers(seed):
    """Against the definition written out over the whole episode in float64, with rates up to 1 spike per step,
    levels that end examples just below or on a whole number, and zero rates."""
    rng = np.random.default_rng(seed)
    count, examples, steps, n = 5, 30, int(rng.integers(1, 25)), 40
    p = rng.choice([0.0, 1.0, 0.5, 0.25, rng.random()], size=(count, examples, n)).astype(np.float32)
    p[..., ::3] = rng.random((count, examples, len(range(0, n, 3))), dtype=np.float32)
    phase = rng.random((count, 1, n))
    phase[..., :4] = [0.0, 0.5, 1 - 1e-16, 1 - 2**-30]
    spikes = _crossings(phase, p, steps)
    level = phase + np.cumsum(np.repeat(p.astype(np.float64), steps, axis=1), axis=1)  # (count, K*S, n)
    whole = np.floor(np.concatenate([phase, level], axis=1))
    reference = (np.diff(whole, axis=1) > 0).transpose(1, 0, 2)
    assert spikes.shape == reference.shape == (examples * steps, count, n)
    np.testing.assert_array_equal(spikes.sum(axis=0), reference.sum(axis=0))  # exact counts per episode
    assert np.count_nonzero(spikes != reference) <= 2e-5 * spikes.size  # at most rounding-level shifts by a step


@pytest.mark.parametrize("seed", range(3))
def test_regular_encoding_places_each_spike_on_the_step_flooring_every_step_would(seed):
    """Exactly, against the step-by-step definition within each example, on float64 rates and phases that are
    round decimals: there f + s * q often lands just beside a whole number, and the step computed directly,
    ceil((j - f) / q), is one off (in about 1 % of these spikes, both ways)."""
    rng = np.random.default_rng(seed)
    count, examples, steps, n = 4, 12, int(rng.integers(2, 25)), 60
    q = rng.choice(np.arange(1, 101) / 100, size=(count, examples, n))
    phase = rng.choice(np.arange(100) / 100, size=(count, 1, n))
    spikes = _crossings(phase, q, steps)
    start = phase + np.concatenate([np.zeros_like(q[:, :1]), np.cumsum(q * steps, axis=1)[:, :-1]], axis=1)
    fraction = start - np.floor(start)
    level = np.floor(fraction[..., None, :] + np.arange(steps + 1)[:, None] * q[..., None, :])  # (count, K, S+1, n)
    reference = np.diff(level, axis=2) > 0
    np.testing.assert_array_equal(spikes, reference.transpose(1, 2, 0, 3).reshape(examples * steps, count, n))


def test_regular_encoding_draws_a_phase_per_neuron_and_episode(monkeypatch):
    import lsnn_bio.tasks.function_regression as module

    phases = []
    monkeypatch.setattr(
        module, "_crossings", lambda phase, p, steps: phases.append(phase) or _crossings(phase, p, steps)
    )
    small(encoding="regular").batch("train", 40, np.random.default_rng(0))
    (phase,) = phases
    assert phase.shape == (40, 1, 300) and 0 <= phase.min() and phase.max() < 1 and abs(phase.std() - 12**-0.5) < 0.01
    first = np.argmax(_crossings(np.random.default_rng(0).random((50, 1, 30)), np.full((50, 2, 30), 0.1), 10), axis=0)
    assert len(np.unique(first)) == 10  # at 0.1 per step the first spike falls on every one of the 10 steps
    assert len(np.unique(first[:, 0])) > 5 and len(np.unique(first[0])) > 5  # across episodes and across neurons


def test_regular_encoding_is_seeded_and_differs_from_bernoulli():
    regular = [small(encoding="regular").batch("train", 4, np.random.default_rng(5)) for _ in range(2)]
    np.testing.assert_array_equal(regular[0].inputs, regular[1].inputs)
    bernoulli = small().batch("train", 4, np.random.default_rng(5))
    np.testing.assert_array_equal(bernoulli.targets, regular[0].targets)  # the same functions and x
    assert not np.array_equal(bernoulli.inputs, regular[0].inputs)


def test_population_rates_peak_and_clip():
    rates = population_rates(np.array([0.0, 10.0]), -1, 1, 5, 0.25, 80.0)
    np.testing.assert_allclose(rates[0], 80 * np.exp(-np.array([1, 0.25, 0, 0.25, 1]) / (2 * 0.5**2)))
    assert rates[1].argmax() == 4 and rates[1, 4] == 80.0  # clipped to the top of the range


def test_generators_are_seeded_and_deterministic():
    a, b = small(seed=3), small(seed=3)
    for split in ("validation", "test"):
        for x, y in zip(a.batches(split, 5), b.batches(split, 5)):
            np.testing.assert_array_equal(x.inputs, y.inputs)
            np.testing.assert_array_equal(x.targets, y.targets)
    x, y = (t.batch("train", 4, np.random.default_rng(9)) for t in (a, b))
    np.testing.assert_array_equal(x.inputs, y.inputs)
    np.testing.assert_array_equal(x.x, y.x)
    other = next(small(seed=4).batches("test", 12))
    assert not np.array_equal(other.targets, next(a.batches("test", 12)).targets)


@pytest.mark.parametrize("encoding", ["bernoulli", "regular"])
def test_held_out_episodes_do_not_depend_on_batching(encoding):
    task = small(encoding=encoding)
    whole = next(task.batches("validation", 12))
    parts = list(task.batches("validation", 5))
    assert [p.size for p in parts] == [5, 5, 2]
    np.testing.assert_array_equal(np.concatenate([p.inputs for p in parts], axis=1), whole.inputs)
    np.testing.assert_array_equal(np.concatenate([p.targets for p in parts]), whole.targets)
    picked = task.batch("validation", 30, np.random.default_rng(0))  # drawn from the fixed 12, with replacement
    rows = [np.flatnonzero(whole.functions.params["b2"] == v) for v in picked.functions.params["b2"]]
    assert all(len(r) == 1 for r in rows)
    for i, (r,) in enumerate(rows):
        np.testing.assert_array_equal(picked.inputs[:, i], whole.inputs[:, r])


def test_splits_use_distinct_streams_and_never_repeat_training_functions():
    task = small(validation_functions=150, test_functions=150)
    assert task.split_size("train") is None and task.split_size("validation") == task.split_size("test") == 150
    validation = next(task.batches("validation", 150)).functions.params["W1"].reshape(150, -1)
    test = next(task.batches("test", 150)).functions.params["W1"].reshape(150, -1)
    train = np.concatenate(
        [
            task.batch("train", 50, np.random.default_rng(s)).functions.params["W1"].reshape(50, -1)
            for s in (0, [0, 1], [0, 3])
        ]
    )
    rows = [tuple(r) for r in np.concatenate([validation, test, train])]
    assert len(set(rows)) == len(rows)


def test_make_task_round_trip_and_registration():
    assert TASKS["function_regression"] is FunctionRegression
    task = make_task("function_regression", family="sine", examples=8)
    assert task.options["family"] == "sine" and make_task(task.name, **task.options).options == task.options
    assert (task.n_inputs, task.neurons_per_variable, task.n_x, task.n_outputs, task.dt_ms) == (300, 150, 1, 1, 1.0)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"family": "cosine"}, "unknown family 'cosine' (accepted: 'network', 'sine')"),
        ({"encoding": "poisson"}, "unknown encoding 'poisson' (accepted: 'bernoulli', 'regular')"),
        ({"examples": 1}, "option examples must be at least 2"),
        ({"examples": 2.5}, "option examples must be a positive integer"),
        ({"example_ms": 20.5}, "not a positive whole number"),
        ({"readout_ms": 30}, "readout_ms=30 is longer than example_ms=20"),
        ({"n_inputs": 301}, "n_inputs=301 must be a multiple of 3"),
        ({"family": "sine", "n_inputs": 301}, "must be a multiple of 2"),
        ({"tuning_width": 0}, "option tuning_width must be a positive finite number"),
        ({"input_range": float("inf")}, "option input_range must be a positive finite number"),
        ({"rate_hz": 2000}, "option rate_hz must be at most 1000 Hz"),
        ({"rate_hz": "250 Hz"}, "got '250 Hz' (accepted: a plain number of Hz, without the unit)"),
        ({"dt_ms": "1 ms"}, "got '1 ms' (accepted: a plain number of ms, without the unit)"),
        ({"seed": -1}, "option seed must be an integer >= 0"),
        ({"test_functions": 0}, "option test_functions must be a positive integer"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(TaskError) as error:
        FunctionRegression(**options)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda t: t.batch("dev", 2, np.random.default_rng(0)), "unknown split 'dev'"),
        (lambda t: next(t.batches("train", 2)), "unknown split 'train' here (accepted: 'validation', 'test')"),
        (lambda t: t.batch("train", 0, np.random.default_rng(0)), "positive integer"),
        (lambda t: t.batch("train", 2, 0), "rng must be a numpy Generator"),
    ],
)
def test_bad_calls_are_one_line_errors(call, message):
    with pytest.raises(TaskError) as error:
        call(small())
    assert message in str(error.value)


# --------------------------------------------------------------------------- scores and baselines


def test_test_mse_reads_the_second_half_and_by_example_averages_functions():
    targets = np.zeros((2, 4))
    predictions = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 2.0]])
    assert test_mse(predictions, targets) == pytest.approx((9 + 16 + 1 + 4) / 4)
    np.testing.assert_allclose(test_mse_by_example(predictions, targets), [0.5, 2.0, 5.0, 10.0])
    mask = np.array([[True, True, True, False], [True, True, True, True]])
    assert test_mse(predictions, targets, mask) == pytest.approx((9 + 1 + 4) / 3)
    with pytest.raises(TaskError, match="same shape"):
        test_mse(predictions[:, :3], targets)


@pytest.mark.parametrize("seed", range(6))
def test_linear_baseline_is_exact_on_linear_functions(seed):
    rng = np.random.default_rng(seed)
    n_x, outputs, functions, examples = int(rng.integers(1, 4)), int(rng.integers(1, 3)), 7, int(rng.integers(20, 40))
    x = rng.uniform(-5, 5, (functions, examples, n_x))
    slopes, intercepts = rng.normal(0, 2, (functions, n_x, outputs)), rng.normal(0, 2, (functions, 1, outputs))
    targets = x @ slopes + intercepts
    predictions = linear_predictions(x, targets)
    start = 2 * (n_x + 1)
    np.testing.assert_allclose(predictions[:, start:], targets[:, start:], atol=1e-8)
    assert not np.allclose(predictions[:, 1:start], targets[:, 1:start])  # the ridge is active before
    np.testing.assert_array_equal(predictions[:, 0], 0.0)  # nothing seen: predict the families' mean
    np.testing.assert_allclose(predictions[:, 1], targets[:, 0])  # one example: its target (slopes shrunk to 0)
    assert linear_baseline_mse(x, targets) == pytest.approx(0.0, abs=1e-14)


def test_linear_baseline_learns_within_an_episode_but_not_beyond_linear():
    task = FunctionRegression(examples=40, test_functions=64)
    batch = next(task.batches("test", 64))
    curve = linear_baseline_by_example(batch.x, batch.targets)
    assert curve.shape == (40,) and curve[0] > 5 * curve[-10:].mean()
    # the network family is close to, but not exactly, linear on [-5, 5]^2
    within = batch.targets.var(axis=1).mean()
    assert 0.01 * within < linear_baseline_mse(batch.x, batch.targets) < 0.2 * within


@pytest.mark.parametrize("seed", range(4))
def test_plane_decomposition_splits_the_error_exactly_and_recovers_slope_gains(seed):
    """Any predictions: the planes' error and the error off them sum to test_mse. On planar functions, predictions
    that carry known fractions of each slope and level have exactly those gains; on curved ones, a shifted copy of
    the targets errs only in its plane."""
    rng = np.random.default_rng(seed)
    functions, examples, n_x = int(rng.integers(5, 30)), int(rng.integers(10, 60)), int(rng.integers(1, 4))
    x = rng.uniform(-5, 5, (functions, examples, n_x))
    slopes, levels = rng.normal(0, 1, (functions, n_x)), rng.normal(0, 1, (functions, 1))
    planes = (np.einsum("bkd,bd->bk", x, slopes) + levels)[..., None]
    curved = planes + 0.3 * np.sin(x.sum(axis=-1, keepdims=True))

    noisy = curved + rng.normal(0, 0.5, curved.shape)
    split = plane_decomposition(noisy, curved, x)
    assert split["mse"] == pytest.approx(test_mse(noisy, curved), rel=1e-12)
    assert split["plane_mse"] + split["off_plane_mse"] == pytest.approx(split["mse"], rel=1e-12)

    shifted = plane_decomposition(curved + 0.7, curved, x)
    assert shifted["plane_mse"] == pytest.approx(0.49) and shifted["off_plane_mse"] == pytest.approx(0.0, abs=1e-20)
    assert 0 < shifted["target_off_plane_mse"] < 0.3**2

    gains, level_gain = rng.uniform(0.1, 1.5, n_x), rng.uniform(0.5, 1.5)
    shrunk = (np.einsum("bkd,bd->bk", x, slopes * gains) + level_gain * levels)[..., None]
    split = plane_decomposition(shrunk, planes, x)
    assert [s["gain"] for s in split["slopes"]] == pytest.approx(list(gains), rel=1e-9)
    assert [s["correlation"] for s in split["slopes"]] == pytest.approx([1.0] * n_x)
    assert split["level"]["gain"] == pytest.approx(level_gain, rel=1e-9)
    assert split["off_plane_mse"] == pytest.approx(0.0, abs=1e-20)

    with pytest.raises(TaskError, match="same shape, with one output"):
        plane_decomposition(np.zeros((functions, examples, 2)), np.zeros((functions, examples, 2)), x)
    with pytest.raises(TaskError, match="x must be"):
        plane_decomposition(planes, planes, x[:, :-1])
    with pytest.raises(TaskError, match="too few"):
        plane_decomposition(planes[:, :4], planes[:, :4], x[:, :4])
    with pytest.raises(TaskError, match="2 functions are too few"):
        plane_decomposition(planes[:2], planes[:2], x[:2])
    same = np.broadcast_to(planes[:1], planes.shape)
    assert plane_decomposition(same, same, np.broadcast_to(x[:1], x.shape))["level"]["gain"] is None


def test_backprop_baseline_fits_the_target_architecture():
    """Backprop on the TN architecture beats the linear baseline on the network family once it has data."""
    task = FunctionRegression(examples=30, test_functions=8)
    batch = next(task.batches("test", 8))
    at = np.array([0, 2, 29])
    predictions = backprop_predictions(batch.x, batch.targets, at=at, steps=150, seed=1)
    assert predictions.shape == (8, 3, 1)
    np.testing.assert_array_equal(predictions[:, 0], 0.0)
    late = ((predictions[:, 2] - batch.targets[:, 29]) ** 2).mean()
    early = ((predictions[:, 1] - batch.targets[:, 2]) ** 2).mean()
    assert late < 0.2 * early
    np.testing.assert_array_equal(predictions, backprop_predictions(batch.x, batch.targets, at=at, steps=150, seed=1))
    changed = batch.targets.copy()
    changed[:, 29:] += 100.0  # the fit for example 29 must not see example 29 itself
    np.testing.assert_array_equal(
        backprop_predictions(batch.x, changed, at=[29], steps=20),
        backprop_predictions(batch.x, batch.targets, at=[29], steps=20),
    )
    with pytest.raises(TaskError, match=r"at must be example indices in \[0, 30\)"):
        backprop_predictions(batch.x, batch.targets, at=[30])


def test_the_draft_network_document_takes_the_task_and_learns_through_the_windows(models):
    """models/lsnn_l2l.yaml plugs into the task: inputs fit, the windowed MSE has finite gradients."""
    import torch

    from lsnn_bio import load_network
    from lsnn_bio.training.losses import window_logits
    from lsnn_bio.twin import Twin

    spec = load_network(models / "lsnn_l2l.yaml")
    task = FunctionRegression(examples=4)
    assert spec.inputs["examples"].size == task.n_inputs and spec.populations["prediction"].size == task.n_outputs
    batch = task.batch("train", 3, np.random.default_rng(0))
    twin = Twin(spec, dtype=torch.float64)
    result = twin({"examples": torch.as_tensor(batch.inputs, dtype=torch.float64)})
    predictions = window_logits(result.outputs["prediction"], torch.as_tensor(batch.windows))  # (batch, K, 1)
    loss = ((predictions - torch.as_tensor(batch.targets)) ** 2)[torch.as_tensor(batch.mask)].mean()
    loss.backward()
    gradients = [p.grad for p in twin.parameters() if p.grad is not None]
    assert gradients and all(torch.isfinite(g).all() for g in gradients) and any(g.abs().sum() > 0 for g in gradients)


@pytest.mark.parametrize("seed", range(3))
def test_spread_decomposition_separates_spike_noise_from_a_wrong_function(seed):
    """Draws = targets + a fixed error + noise that changes from draw to draw: the spread estimates the noise's
    variance, the systematic part the fixed error's square, and together they are the draws' mean test_mse."""
    rng = np.random.default_rng(seed)
    functions, examples, draws = int(rng.integers(20, 60)), 2 * int(rng.integers(10, 30)), int(rng.integers(2, 6))
    targets = rng.normal(0, 1, (functions, examples, 1))
    bias, sigma = rng.uniform(0.1, 0.5), rng.uniform(0.1, 0.5)
    predicted = targets + bias + rng.normal(0, sigma, (draws, functions, examples, 1))
    split = spread_decomposition(predicted, targets)
    assert split["draws"] == draws
    assert split["mse"] == pytest.approx(np.mean([test_mse(p, targets) for p in predicted]), rel=1e-12)
    assert split["spread_mse"] + split["systematic_mse"] == pytest.approx(split["mse"], rel=1e-12)
    samples = draws * functions * examples // 2
    assert split["spread_mse"] == pytest.approx(sigma**2, rel=8 / np.sqrt(samples) * draws / (draws - 1))
    assert split["systematic_mse"] == pytest.approx(bias**2, abs=8 * sigma**2 / np.sqrt(functions * examples / 2))
    exact = spread_decomposition(np.broadcast_to(targets + bias, predicted.shape), targets)
    assert exact["spread_mse"] == pytest.approx(0.0, abs=1e-24) and exact["systematic_mse"] == pytest.approx(
        bias**2, rel=1e-12
    )
    with pytest.raises(TaskError, match="R >= 2"):
        spread_decomposition(predicted[:1], targets)
    with pytest.raises(TaskError, match="R >= 2"):
        spread_decomposition(predicted[:, :, :-1], targets)

"""Tiny learning-to-learn runs shared by tests: the real experiment documents, shrunk with --set options."""

from lsnn_bio.training import load_experiment
from lsnn_bio.training.dispatch import trainer_class

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent

# 20 neurons, 30 inputs, 8 examples of 10 ms; float64 so that Brian2 must agree exactly.
REGRESSION = [
    "network_overrides.inputs.examples.size=30",
    "network_overrides.populations.LIF.size=10",
    "network_overrides.populations.ALIF.size=10",
    "task.n_inputs=30",
    "task.examples=8",
    "task.example_ms=10",
    "task.readout_ms=5",
    "task.validation_functions=32",
    "task.test_functions=16",
    "batch_size=16",
    "validation.every=20",
    "validation.batch_size=32",
    "test_batch_size=16",
    "checkpoint_every=20",
    "compile=false",
    "dtype=float64",
    "optimizer.learning_rate=0.01",
    "seed=1",
]

# 16 neurons, 16 place cells + 4 reward neurons, 150 ms episodes, a goal disc that covers the arena's centre and an
# agent fast and noisy enough to reach it often (so teleports and reward bursts happen).
NAVIGATION = [
    "network_overrides.inputs.observation.size=20",
    "network_overrides.populations.LIF.size=8",
    "network_overrides.populations.ALIF.size=8",
    "task.place_cells_per_side=4",
    "task.reward_neurons=4",
    "task.episode_ms=150",
    "task.goal_radius=0.45",
    "task.max_speed=10",
    "task.validation_episodes=8",
    "task.test_episodes=8",
    "actor_critic.decision_ms=10",
    "actor_critic.initial_std=1.0",
    "batch_size=8",
    "validation.every=2",
    "validation.batch_size=8",
    "test_batch_size=8",
    "checkpoint_every=2",
    "dtype=float64",
    "optimizer.learning_rate=0.01",
]


def experiment(document, settings):
    return load_experiment(ROOT / "training" / document, settings=settings)


def trainer(document, settings, out, iterations, resume=False):
    built = experiment(document, settings)
    return trainer_class(built)(built, out, resume=resume, iterations=iterations, progress=False)


def regression_run(out, iterations=40, settings=()):
    """Train the tiny regression run; returns (validation MSE over all examples before training, summary)."""
    run = trainer("l2l_regression.yaml", REGRESSION + list(settings), out, iterations)
    before = run.score("validation", 32)["mse_all_examples"]
    return before, run.run()

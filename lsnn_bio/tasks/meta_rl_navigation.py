"""Meta-RL navigation as a task an experiment document can name (reference section 3.5): a closed-loop task.

The arena itself is ``environments/navigation.py`` (Gymnasium) and ``environments/batched_navigation.py``
(torch, many arenas); this class only carries the environment's options, the held-out episode seeds
and the time step through experiments and checkpoints. It has no open-loop batches: the agent's
next input depends on its last action, so episodes are played by the actor-critic trainer
(``training/actor_critic.py``) and by Brian2 in closed loop (``brian/closed_loop.py``).

Splits: training episodes come from the trainer's generator; the ``validation`` and ``test``
episodes are ``validation_episodes`` and ``test_episodes`` seeds of ``episode_seeds(split, n,
seed)`` (named streams of the task's ``seed``), the same episodes the reference policies of
``navigation_baselines.py`` are scored on.
"""

from dataclasses import fields

from ..environments.navigation import NavigationConfig, NavigationError, episode_seeds
from .base import Task, TaskError, positive_int

ENVIRONMENT_OPTIONS = tuple(f.name for f in fields(NavigationConfig))


class MetaRLNavigation(Task):
    """Find a hidden goal, then return to it after every teleport; one goal position per episode."""

    name = "meta_rl_navigation"
    n_classes = 0
    n_actions = 2

    def __init__(
        self,
        episode_ms=1000.0,
        goal_radius=0.15,
        max_speed=2.5,
        place_cells_per_side=10,
        place_field_width=0.1,
        place_rate_hz=100.0,
        reward_neurons=10,
        reward_rate_hz=500.0,
        reward_burst_ms=10.0,
        validation_episodes=128,
        test_episodes=128,
        seed=0,
        dt_ms=1.0,
    ):
        environment = dict(
            episode_ms=episode_ms,
            dt_ms=dt_ms,
            goal_radius=goal_radius,
            max_speed=max_speed,
            place_cells_per_side=place_cells_per_side,
            place_field_width=place_field_width,
            place_rate_hz=place_rate_hz,
            reward_neurons=reward_neurons,
            reward_rate_hz=reward_rate_hz,
            reward_burst_ms=reward_burst_ms,
        )
        self._options = dict(
            environment, validation_episodes=validation_episodes, test_episodes=test_episodes, seed=seed
        )
        try:
            self.environment_config = NavigationConfig.from_options(**environment)
        except NavigationError as error:
            raise TaskError(f"task '{self.name}': {error}") from None
        self.environment_options = environment
        self.dt_ms = float(dt_ms)
        self.n_inputs = self.environment_config.n_inputs
        self.steps = self.environment_config.steps
        self._held_out = {
            "validation": positive_int(self.name, "validation_episodes", validation_episodes),
            "test": positive_int(self.name, "test_episodes", test_episodes),
        }
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise TaskError(f"task '{self.name}': option seed must be an integer >= 0, got {seed!r}")
        self.seed = seed

    def environment(self, batch, device="cpu", dtype=None):
        """``batch`` arenas of this task's environment (torch)."""
        import torch

        from ..environments.batched_navigation import BatchedNavigation

        return BatchedNavigation(batch, device=device, dtype=dtype or torch.float32, **self.environment_options)

    def episode_seeds(self, split, count=None):
        """The first ``count`` (default: all) episode seeds of the held-out ``split``."""
        self._check_split(split, ("validation", "test"))
        total = self._held_out[split]
        return episode_seeds(split, total if count is None else min(int(count), total), self.seed)

    def split_size(self, split):
        self._check_split(split)
        return None if split == "train" else self._held_out[split]

    def batch(self, split, size, rng):
        raise self._closed_loop()

    def batches(self, split, size):
        raise self._closed_loop()

    def _closed_loop(self):
        return TaskError(
            f"task '{self.name}' is closed-loop: its inputs depend on the agent's actions, so it has no "
            "open-loop batches (train it with an 'actor_critic' experiment; play it with BatchedNavigation)"
        )

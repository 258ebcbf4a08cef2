"""Meta-RL navigation (reference section 3.5): find a hidden goal, then return to it after every teleport.

The paper's numbers are not known; these are ours (``NavigationConfig`` defaults, all changeable):

- arena: the unit square [0, 1]^2 (lengths in arena widths); the agent stops at the walls;
- goal: a disc of radius ``goal_radius`` = 0.15, its centre uniform in [r, 1 - r]^2, redrawn every
  episode and never shown; reaching it (distance to its centre < r after a move) gives reward 1
  and teleports the agent to a uniform position outside the goal;
- action: a 2D velocity in units of ``max_speed`` = 2.5 arena widths per second: the action
  a in [-1, 1]^2 (the action space) moves the agent by max_speed * dt * a / max(1, |a|), so the
  speed never exceeds max_speed whatever the action;
- observation: the input spikes of one ``dt_ms`` = 1 ms step, float32 0/1 of
  ``place_cells_per_side``^2 = 100 place cells then ``reward_neurons`` = 10 reward neurons. Place
  cell j has a Gaussian field (centres on a 10 x 10 grid at (i + 1/2)/10, sigma
  ``place_field_width`` = 0.1, peak ``place_rate_hz`` = 100 Hz: about 6 cells active, 0.6 spikes
  per ms); the reward neurons fire at ``reward_rate_hz`` = 500 Hz for ``reward_burst_ms`` = 10 ms
  starting with the observation of the step that reached the goal (about 50 spikes), silent
  otherwise; every neuron spikes in a step with probability rate * dt;
- episode: ``episode_ms`` = 2000 ms (2,000 steps), then ``truncated``; no early termination.

All randomness of an episode (goal, start, the teleport position for every step, the uniforms for
every spike) is drawn at reset by ``draw_episode`` from the episode's generator, in a fixed order.
Steps draw nothing, so ``BatchedNavigation`` (torch, many arenas at once) reproduces this env
exactly from the same seeds, and an episode does not depend on the policy's random draws.
"""

from dataclasses import dataclass, fields

import gymnasium
import numpy as np

from .. import seeds
from ..errors import LsnnBioError

CANDIDATES = 8  # teleport/start positions drawn per step; the first outside the goal is used
HELD_OUT = ("validation", "test")


class NavigationError(LsnnBioError, ValueError):
    """A navigation option, action or call the environment cannot accept."""


@dataclass(frozen=True)
class NavigationConfig:
    """The environment's numbers (see the module docstring); lengths in arena widths, times in ms."""

    episode_ms: float = 2000.0
    dt_ms: float = 1.0
    goal_radius: float = 0.15
    max_speed: float = 2.5
    place_cells_per_side: int = 10
    place_field_width: float = 0.1
    place_rate_hz: float = 100.0
    reward_neurons: int = 10
    reward_rate_hz: float = 500.0
    reward_burst_ms: float = 10.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not np.isfinite(value)
            ):
                raise NavigationError(f"navigation option {f.name} must be a finite number, got {value!r}")
            if f.type is int and value != int(value):
                raise NavigationError(f"navigation option {f.name} must be a whole number, got {value!r}")
            if value <= 0:
                raise NavigationError(f"navigation option {f.name} must be > 0, got {value!r}")
        if not self.goal_radius < 0.5:
            raise NavigationError(
                f"navigation option goal_radius must be < 0.5 (the goal must fit in the unit arena), got {self.goal_radius!r}"
            )
        for name in ("episode_ms", "reward_burst_ms"):
            steps = getattr(self, name) / self.dt_ms
            if abs(steps - round(steps)) > 1e-9:
                raise NavigationError(
                    f"navigation option {name}={getattr(self, name)!r} ms is not a whole number of dt_ms={self.dt_ms!r} ms steps"
                )
        for name in ("place_rate_hz", "reward_rate_hz"):
            if getattr(self, name) * self.dt_ms / 1000.0 > 1:
                raise NavigationError(
                    f"navigation option {name} must be at most {1000 / self.dt_ms:g} Hz at dt_ms={self.dt_ms:g}, "
                    f"got {getattr(self, name)!r}"
                )

    @classmethod
    def from_options(cls, **options):
        """A config from keyword options; an unknown name is refused with the accepted ones."""
        accepted = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise NavigationError(
                f"unknown navigation option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                f"(accepted: {', '.join(accepted)})"
            )
        return cls(**options)

    @property
    def steps(self):
        return int(round(self.episode_ms / self.dt_ms))

    @property
    def burst_steps(self):
        return int(round(self.reward_burst_ms / self.dt_ms))

    @property
    def n_place(self):
        return int(self.place_cells_per_side) ** 2

    @property
    def n_inputs(self):
        return self.n_place + int(self.reward_neurons)

    def place_centres(self):
        """(n_place, 2) field centres, row by row on the grid."""
        ticks = (np.arange(self.place_cells_per_side) + 0.5) / self.place_cells_per_side
        gx, gy = np.meshgrid(ticks, ticks, indexing="xy")
        return np.stack([gx.ravel(), gy.ravel()], axis=-1)


def _first_outside(candidates, goal, radius):
    """First candidate (..., CANDIDATES, 2) at least ``radius`` from ``goal``; the corner farthest from it if none is."""
    outside = np.linalg.norm(candidates - goal, axis=-1) >= radius
    first = np.take_along_axis(candidates, outside.argmax(axis=-1)[..., None, None], axis=-2)[..., 0, :]
    corner = (goal < 0.5).astype(np.float64)  # never inside: the goal's centre is at most 1 - r from any wall
    return np.where(outside.any(axis=-1)[..., None], first, corner)


def draw_episode(rng, config):
    """Everything random in one episode, drawn from ``rng`` in this order: goal, start, teleports, spike uniforms.

    Returns goal (2,), start (2,), teleports (steps, 2) (where the agent lands if it reaches the
    goal in that step) and uniforms (steps + 1, n_inputs) float32 (row 0 for the reset observation).
    """
    r = config.goal_radius
    goal = rng.uniform(r, 1.0 - r, 2)
    start = _first_outside(rng.random((CANDIDATES, 2)), goal, r)
    teleports = _first_outside(rng.random((config.steps, CANDIDATES, 2)), goal, r)
    uniforms = rng.random((config.steps + 1, config.n_inputs), dtype=np.float32)
    return goal, start, teleports, uniforms


def episode_seeds(split, count, seed=0):
    """``count`` integer episode seeds of a held-out ``split`` ('validation' or 'test') of ``seed``, distinct streams per split."""
    if split not in HELD_OUT:
        raise NavigationError(f"unknown split {split!r} for episode seeds (accepted: {', '.join(map(repr, HELD_OUT))})")
    words = seeds.sequence(seed, split).generate_state(int(count), np.uint64)
    return [int(w) for w in words]


class NavigationEnv(gymnasium.Env):
    """One arena with the Gymnasium API; options are ``NavigationConfig`` fields (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, render_mode=None, **options):
        if render_mode is not None:
            raise NavigationError(
                f"NavigationEnv has no render modes, got render_mode={render_mode!r} (accepted: None)"
            )
        self.config = NavigationConfig.from_options(**options)
        c = self.config
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, (c.n_inputs,), np.float32)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._centres = c.place_centres()
        self._place_p = c.place_rate_hz * c.dt_ms / 1000.0
        self._reward_p = c.reward_rate_hz * c.dt_ms / 1000.0
        self._step_length = c.max_speed * c.dt_ms / 1000.0
        self._t = None

    def place_probabilities(self, position):
        """Spike probability per step of every place cell at ``position``."""
        d2 = ((self._centres - position) ** 2).sum(axis=-1)
        return self._place_p * np.exp(-d2 / (2.0 * self.config.place_field_width**2))

    def _observe(self):
        p = np.zeros(self.config.n_inputs)
        p[: self.config.n_place] = self.place_probabilities(self.position)
        if self._burst > 0:
            p[self.config.n_place :] = self._reward_p
            self._burst -= 1
        return (self._uniforms[self._t] < p).astype(np.float32)

    def _info(self, reached):
        return {"position": self.position.copy(), "goal": self.goal.copy(), "goals": self.goals, "reached": reached}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if options:
            raise NavigationError(
                f"NavigationEnv.reset takes no options, got {sorted(options)} (set them when making the env)"
            )
        self.goal, self.position, self._teleports, self._uniforms = draw_episode(self.np_random, self.config)
        self._t, self._burst, self.goals = 0, 0, 0
        return self._observe(), self._info(False)

    def step(self, action):
        if self._t is None or self._t >= self.config.steps:
            raise NavigationError(
                "NavigationEnv.step called before reset or after the episode ended (call reset first)"
            )
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (2,) or not np.isfinite(a).all():
            raise NavigationError(f"action must be 2 finite numbers (a velocity in units of max_speed), got {action!r}")
        c = self.config
        a = a / max(1.0, float(np.sqrt((a * a).sum())))
        self.position = np.clip(self.position + self._step_length * a, 0.0, 1.0)
        reached = bool(np.sqrt(((self.position - self.goal) ** 2).sum()) < c.goal_radius)
        if reached:
            self.position = self._teleports[self._t].copy()
            self._burst = c.burst_steps
            self.goals += 1
        self._t += 1
        observation = self._observe()
        return observation, float(reached), False, self._t == c.steps, self._info(reached)

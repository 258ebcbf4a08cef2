"""Many navigation arenas stepped together in torch (CPU or GPU), the same dynamics as ``NavigationEnv``.

For training an agent in closed loop: observations, rewards and actions stay tensors on the
twin's device. Each arena draws its episode at reset with ``draw_episode`` from its own numpy
generator (goal, start, teleports, spike uniforms; moved to the device once), so every step is a
few tensor operations without synchronisation, and arena b seeded with s is step for step the
Gymnasium env reset with seed s (tested). All arenas share the episode clock: after
``config.steps`` steps, reset them all.
"""

import numpy as np
import torch

from .navigation import NavigationConfig, NavigationError, draw_episode


class BatchedNavigation:
    """``batch`` independent arenas; ``reset(seed)`` then ``step(actions)`` until ``truncated``."""

    def __init__(self, batch, device="cpu", dtype=torch.float32, **options):
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch <= 0:
            raise NavigationError(f"BatchedNavigation: batch must be a positive integer, got {batch!r}")
        if dtype not in (torch.float32, torch.float64):
            raise NavigationError(f"BatchedNavigation: dtype must be torch.float32 or torch.float64, got {dtype!r}")
        self.config = c = NavigationConfig.from_options(**options)
        self.batch, self.device, self.dtype = int(batch), torch.device(device), dtype
        self.n_inputs = c.n_inputs
        self._centres = torch.as_tensor(c.place_centres(), dtype=dtype, device=self.device)
        self._place_p = c.place_rate_hz * c.dt_ms / 1000.0
        self._reward_p = c.reward_rate_hz * c.dt_ms / 1000.0
        self._step_length = c.max_speed * c.dt_ms / 1000.0
        self._generators = None
        self.t = None

    def _seed(self, seed):
        """Arena b: seed[b] exactly as ``NavigationEnv.reset(seed=seed[b])``, or stream (b,) of one int seed."""
        if seed is None:
            if self._generators is None:
                root = np.random.SeedSequence()
                self._generators = [np.random.default_rng(s) for s in root.spawn(self.batch)]
            return
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            self._generators = [
                np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(b,))) for b in range(self.batch)
            ]
            return
        seeds = list(seed)
        if len(seeds) != self.batch:
            raise NavigationError(
                f"BatchedNavigation.reset: {len(seeds)} seeds for {self.batch} arenas (accepted: one int, or one per arena)"
            )
        self._generators = [np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(s)))) for s in seeds]

    def reset(self, seed=None):
        """Start a new episode in every arena; returns the first observation (batch, n_inputs), bool spikes."""
        self._seed(seed)
        goal, start, teleports, uniforms = zip(*(draw_episode(g, self.config) for g in self._generators))

        def as_tensor(arrays, dtype, axis):
            return torch.as_tensor(np.stack(arrays, axis=axis), dtype=dtype, device=self.device)

        self.goal = as_tensor(goal, self.dtype, 0)  # (batch, 2)
        self.position = as_tensor(start, self.dtype, 0)
        self._teleports = as_tensor(teleports, self.dtype, 1)  # (steps, batch, 2)
        self._uniforms = as_tensor(uniforms, torch.float32, 1)  # (steps + 1, batch, n_inputs)
        self._burst = torch.zeros(self.batch, dtype=torch.int64, device=self.device)
        self.goals = torch.zeros(self.batch, dtype=torch.int64, device=self.device)
        self.t = 0
        return self._observe()

    def place_probabilities(self, position):
        """Spike probability per step of every place cell, (batch, n_place)."""
        d2 = ((self._centres - position[:, None, :]) ** 2).sum(dim=-1)
        return self._place_p * torch.exp(-d2 / (2.0 * self.config.place_field_width**2))

    def _observe(self):
        reward = (self._burst > 0).to(self.dtype)[:, None].expand(-1, int(self.config.reward_neurons)) * self._reward_p
        p = torch.cat([self.place_probabilities(self.position), reward], dim=-1)
        self._burst = (self._burst - 1).clamp(min=0)
        return self._uniforms[self.t] < p  # bool spikes: exactly 0/1, so the twin has nothing to check

    def step(self, action):
        """Move every arena by ``action`` (batch, 2); returns (observation, reward (batch,), truncated: bool)."""
        if self.t is None or self.t >= self.config.steps:
            raise NavigationError(
                "BatchedNavigation.step called before reset or after the episode ended (call reset first)"
            )
        a = torch.as_tensor(action, device=self.device).to(self.dtype)
        if a.shape != (self.batch, 2):
            raise NavigationError(
                f"BatchedNavigation.step: actions must have shape ({self.batch}, 2), got {tuple(a.shape)}"
            )
        a = a / torch.sqrt((a * a).sum(dim=-1, keepdim=True)).clamp(min=1.0)
        moved = (self.position + self._step_length * a).clamp(0.0, 1.0)
        reached = torch.sqrt(((moved - self.goal) ** 2).sum(dim=-1)) < self.config.goal_radius
        self.position = torch.where(reached[:, None], self._teleports[self.t], moved)
        self._burst = torch.where(reached, torch.full_like(self._burst, self.config.burst_steps), self._burst)
        self.goals = self.goals + reached
        self.t += 1
        return self._observe(), reached.to(self.dtype), self.t == self.config.steps

"""Reference policies for the navigation task: how many goals chance and a goal-knowing agent reach.

``random_policy_goals_per_episode`` is the floor a meta-trained agent must clearly beat (actions
uniform in the action box, independently every step); ``oracle_goals_per_episode`` (full speed
straight at the goal, which it is told) is the ceiling no agent can beat by much: it shows the task
is solvable within an episode. Both run on the held-out episode seeds of ``episode_seeds``, the
same episodes a trained agent is tested on.
"""

import numpy as np
import torch

from .. import seeds
from .batched_navigation import BatchedNavigation
from .navigation import episode_seeds


def goals_per_episode(policy, episodes=128, split="test", seed=0, batch_size=128, device="cpu", **options):
    """Goals reached in each of ``episodes`` held-out episodes (array) by ``policy(env, observation) -> actions``."""
    seeds = episode_seeds(split, episodes, seed)
    goals = []
    for start in range(0, episodes, batch_size):
        chunk = seeds[start : start + batch_size]
        env = BatchedNavigation(len(chunk), device=device, dtype=torch.float64, **options)
        observation, truncated = env.reset(seed=chunk), False
        while not truncated:
            observation, _, truncated = env.step(policy(env, observation))
        goals.append(env.goals.cpu().numpy())
    return np.concatenate(goals)


def random_policy(seed=0, split="test"):
    """Actions uniform in [-1, 1]^2, independent every step, from their own stream of ``seed``."""
    rng = seeds.generator(seed, split, "random_policy")
    return lambda env, observation: torch.as_tensor(rng.uniform(-1.0, 1.0, (env.batch, 2)), device=env.device)


def oracle_policy(env, observation):
    """Full speed straight at the goal's centre (it knows the goal; no agent is told it)."""
    direction = env.goal - env.position
    return direction / torch.sqrt((direction**2).sum(dim=-1, keepdim=True)).clamp(min=1e-12)


def random_policy_goals_per_episode(episodes=128, split="test", seed=0, **options):
    """Mean goals per episode of the random policy on the held-out episodes."""
    return float(goals_per_episode(random_policy(seed, split), episodes, split, seed, **options).mean())


def oracle_goals_per_episode(episodes=128, split="test", seed=0, **options):
    """Mean goals per episode of the goal-knowing policy on the held-out episodes."""
    return float(goals_per_episode(oracle_policy, episodes, split, seed, **options).mean())

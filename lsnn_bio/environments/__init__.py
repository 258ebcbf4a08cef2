"""Environments for closed-loop tasks: the meta-RL navigation arena (Gymnasium API and a batched torch twin of it).

Importing this package registers ``lsnn_bio/Navigation-v0`` with Gymnasium, so
``gymnasium.make("lsnn_bio/Navigation-v0", goal_radius=0.1)`` works.
"""

import gymnasium

from .batched_navigation import BatchedNavigation
from .navigation import NavigationConfig, NavigationEnv, NavigationError, draw_episode, episode_seeds
from .navigation_baselines import (
    goals_per_episode,
    oracle_goals_per_episode,
    oracle_policy,
    random_policy,
    random_policy_goals_per_episode,
)

NAVIGATION_ID = "lsnn_bio/Navigation-v0"
if NAVIGATION_ID not in gymnasium.registry:
    gymnasium.register(id=NAVIGATION_ID, entry_point="lsnn_bio.environments.navigation:NavigationEnv")

__all__ = [
    "NAVIGATION_ID",
    "BatchedNavigation",
    "NavigationConfig",
    "NavigationEnv",
    "NavigationError",
    "draw_episode",
    "episode_seeds",
    "goals_per_episode",
    "oracle_goals_per_episode",
    "oracle_policy",
    "random_policy",
    "random_policy_goals_per_episode",
]

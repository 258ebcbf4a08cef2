"""Environments for closed-loop tasks: the meta-RL navigation arena (Gymnasium API and a batched torch twin of it).

Importing this package registers ``lsnn_bio/Navigation-v0`` with Gymnasium, so
``gymnasium.make("lsnn_bio/Navigation-v0", goal_radius=0.1)`` works. The torch parts (the batched
arena, the baselines scored with it) load on first use, so that a checkpoint of a navigation
experiment can be read, and its task rebuilt, without torch.
"""

import importlib

import gymnasium

from .navigation import NavigationConfig, NavigationEnv, NavigationError, draw_episode, episode_seeds

_LAZY = {
    "BatchedNavigation": ".batched_navigation",
    "goals_per_episode": ".navigation_baselines",
    "oracle_goals_per_episode": ".navigation_baselines",
    "oracle_policy": ".navigation_baselines",
    "random_policy": ".navigation_baselines",
    "random_policy_goals_per_episode": ".navigation_baselines",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'lsnn_bio.environments' has no attribute '{name}'")


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

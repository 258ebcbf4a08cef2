"""How a network agent acts in the navigation arena: one rule shared by the twin's and Brian2's closed loops.

Every ``decision_ms`` the agent reads its policy readout (the mean m of a 2-D Gaussian, in units of
the arena's maximum speed) and draws the action a = m + std * eps, eps ~ N(0, I); the action is held
until the next decision, while the network and the arena advance every ``dt_ms``. Holding an action
makes exploration move the agent (per-ms independent noise averages out within a few steps) and
gives the actor-critic one decision per ``decision_ms`` to assign credit to.

All the noise of a held-out episode is drawn in advance from its own named stream (``seeds.py``),
``policy_noise(seed, split, index, decisions)``, so the twin and Brian2 playing episode ``index``
take the same actions whenever their readouts agree, and a score does not depend on batch sizes.
"""

import numpy as np

from .. import seeds
from .navigation import NavigationError


def decision_steps(decision_ms, dt_ms):
    """Time steps per decision; ``decision_ms`` must be a whole number of steps."""
    steps = float(decision_ms) / float(dt_ms)
    if not np.isfinite(steps) or steps < 1 or abs(steps - round(steps)) > 1e-9:
        raise NavigationError(
            f"decision_ms={decision_ms!r} must be a positive whole number of dt_ms={dt_ms!r} ms steps"
        )
    return int(round(steps))


def decisions_per_episode(episode_steps, steps_per_decision):
    return -(-int(episode_steps) // int(steps_per_decision))


def policy_noise(seed, split, index, decisions):
    """Standard normal noise (decisions, 2) of held-out episode ``index`` of ``split``."""
    return seeds.generator(seed, split, "policy_noise", int(index)).standard_normal((int(decisions), 2))


def held_out_noise(seed, split, indices, decisions):
    """Noise of several held-out episodes, (decisions, len(indices), 2)."""
    return np.stack([policy_noise(seed, split, i, decisions) for i in indices], axis=1)


def act(mean, std, noise):
    """The action: policy mean plus scaled noise (numpy or torch alike)."""
    return mean + std * noise

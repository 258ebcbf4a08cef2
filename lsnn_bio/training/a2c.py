"""Advantage actor-critic for a twin in closed loop (reference section 3.5): one episode, its advantages, its loss.

``play`` runs a batch of arenas for one whole episode with ``Twin.step`` (the agent's input at step
t+1 depends on its action at step t), so autograd reaches every step. The policy readout is the
mean of a Gaussian action with a state-independent log standard deviation; the value readout is
the critic. One decision every ``decision_ms`` (``environments/agent.py``); rewards are summed per
decision. Advantages are generalised advantage estimates (GAE) with the per-ms ``discount`` raised
to the decision interval and ``gae_lambda``, normalised over the batch. The loss is

    -mean(A * log pi(a)) + value_weight * mean((R - V)^2) - entropy * mean(H(pi)) + c * rate term

with R = A + V the lambda-returns (A and R carry no gradient). Episodes end at the time limit and
nothing is bootstrapped after it: goals after the episode do not count. The loop that calls these
is ``actor_critic.py``; Brian2 and the figures replay trained agents with ``play`` too.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import seeds
from ..environments.agent import act
from ..twin.engine import threads_for
from ..units import seconds
from .losses import rate_regulariser

DEFAULTS = {
    "policy": "policy",
    "value": "value",
    "decision_ms": 20.0,
    "discount": 0.998,
    "gae_lambda": 0.95,
    "value_weight": 0.5,
    "entropy": 1e-3,
    "initial_std": 0.5,
}


def actor_critic_settings(config):
    """The experiment's ``actor_critic`` section with defaults filled in (the schema in experiment.py checked it)."""
    settings = {**DEFAULTS, **(config.get("actor_critic") or {})}
    return settings


@dataclass
class Episode:
    """One closed-loop episode of a batch of arenas; per-decision tensors are (decisions, batch)."""

    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    goals: np.ndarray  # (batch,) goals reached
    actions: np.ndarray  # (decisions, batch, 2)
    rate_term: torch.Tensor
    rate_hz: float
    positions: np.ndarray | None = None  # (steps + 1, batch, 2): before the first step, then after every step
    goal_positions: np.ndarray | None = None  # (batch, 2)


def play(
    twin,
    env,
    episode_seeds,
    noise,
    log_std,
    *,
    input,
    policy,
    value,
    steps_per_decision,
    target_hz=10.0,
    record_positions=False,
    actions=None,
):
    """One episode of ``len(episode_seeds)`` arenas in closed loop through ``twin.step``.

    ``noise``: (decisions, batch, 2) standard normal draws (``environments/agent.py``). Gradients
    flow from log-probabilities, values and the rate term to every twin parameter and ``log_std``
    unless the caller disables them. ``actions`` (decisions, batch, 2), if given, replace the
    sampled ones (replaying an episode: the same arena, new log-probabilities and values).
    """
    batch = len(episode_seeds)
    with threads_for(batch, twin):  # a step at a time: thread wake-ups would cost more than the work
        std = torch.exp(log_std)
        noise = torch.as_tensor(noise, dtype=twin.dtype, device=twin.device)
        state, observation = twin.initial_state(batch), env.reset(seed=list(episode_seeds))
        steps = env.config.steps
        log_probs, values, rewards, taken = [], [], [], []
        positions = [env.position.cpu().numpy().copy()] if record_positions else None
        goal_positions = env.goal.cpu().numpy().copy()
        spiking = [p.name for p in twin.spec.populations.values() if p.spiking and not p.readout]
        spike_sums = {p: 0.0 for p in spiking}
        reward, action = None, None
        for t in range(steps):
            state, out = twin.step(state, {input: observation})
            for p in spiking:
                spike_sums[p] = spike_sums[p] + out.spikes[p]
            if t % steps_per_decision == 0:
                if reward is not None:
                    rewards.append(reward)
                mean = out.outputs[policy]
                k = t // steps_per_decision
                action = (
                    act(mean.detach(), std.detach(), noise[k])
                    if actions is None
                    else torch.as_tensor(actions[k], dtype=twin.dtype, device=twin.device)
                )
                distribution = torch.distributions.Normal(mean, std)
                log_probs.append(distribution.log_prob(action).sum(-1))
                values.append(out.outputs[value][:, 0])
                taken.append(action)
                reward = torch.zeros(batch, dtype=twin.dtype, device=twin.device)
            observation, r, _ = env.step(action)
            reward = reward + r.to(twin.dtype)
            if record_positions:
                positions.append(env.position.cpu().numpy().copy())
        rewards.append(reward)
        rate_term, rate_hz = rate_regulariser(
            {p: (s / steps)[None] for p, s in spike_sums.items()}, seconds(twin.spec.dt, "dt"), target_hz
        )
        return Episode(
            log_probs=torch.stack(log_probs),
            values=torch.stack(values),
            rewards=torch.stack(rewards),
            goals=env.goals.cpu().numpy().copy(),
            actions=torch.stack(taken).detach().cpu().numpy(),
            rate_term=rate_term,
            rate_hz=rate_hz,
            positions=np.stack(positions) if record_positions else None,
            goal_positions=goal_positions,
        )


def advantages(rewards, values, discount, gae_lambda):
    """GAE advantages and lambda-returns (decisions, batch), no gradient; nothing after the last decision."""
    values = values.detach()
    advantage = torch.zeros_like(values)
    running = torch.zeros_like(values[0])
    for k in range(values.shape[0] - 1, -1, -1):
        following = values[k + 1] if k + 1 < values.shape[0] else torch.zeros_like(values[k])
        delta = rewards[k] + discount * following - values[k]
        running = delta + discount * gae_lambda * running
        advantage[k] = running
    return advantage, advantage + values


def a2c_loss(episode, advantage, returns, log_std, settings, rate_coefficient):
    """The actor-critic loss of an episode given its (gradient-free) advantages and returns; (loss, parts)."""
    normalised = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    policy_loss = -(normalised * episode.log_probs).mean()
    value_loss = ((returns - episode.values) ** 2).mean()
    entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum()  # of the Gaussian, the same at every decision
    loss = (
        policy_loss
        + settings["value_weight"] * value_loss
        - settings["entropy"] * entropy
        + rate_coefficient * episode.rate_term
    )
    return loss, {"policy_loss": float(policy_loss.detach()), "value_loss": float(value_loss.detach())}


def held_random_policy(seed, steps_per_decision, split="test"):
    """Actions uniform in [-1, 1]^2, drawn every ``steps_per_decision`` steps and held: a random agent that moves."""
    rng = seeds.generator(seed, split, "random_held_policy")
    held = {}

    def policy(env, observation):
        if env.t % steps_per_decision == 0 or "action" not in held:
            held["action"] = torch.as_tensor(rng.uniform(-1.0, 1.0, (env.batch, 2)), device=env.device)
        return held["action"]

    return policy

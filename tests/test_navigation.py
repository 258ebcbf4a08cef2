"""Navigation: Gymnasium's own checker, the batched torch arenas against the Gymnasium env step for
step, teleports, rates, speed bounds and the reference policies."""

import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from lsnn_bio.environments import (
    NAVIGATION_ID,
    BatchedNavigation,
    NavigationConfig,
    NavigationEnv,
    NavigationError,
    episode_seeds,
    goals_per_episode,
    oracle_goals_per_episode,
    oracle_policy,
    random_policy_goals_per_episode,
)


def test_gymnasium_checker_passes_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gymnasium.make(NAVIGATION_ID).unwrapped)
        check_env(NavigationEnv(goal_radius=0.1, episode_ms=50), skip_render_check=True)
    env = gymnasium.make(NAVIGATION_ID, goal_radius=0.1, max_speed=1.0)
    assert env.unwrapped.config.goal_radius == 0.1 and env.observation_space.shape == (110,)


def _towards_goal(position, goal, rng):
    """A noisy homing action, sometimes far outside the action box: reaches goals and exercises the speed bound."""
    direction = goal - position
    return direction / max(np.linalg.norm(direction), 1e-12) + rng.normal(0, 0.8, 2) * rng.choice([0.5, 3.0])


def test_batched_arenas_agree_with_gymnasium_step_for_step():
    options = dict(episode_ms=400, goal_radius=0.2, max_speed=3.0)
    seeds = [10, 11, 12]
    envs = [NavigationEnv(**options) for _ in seeds]
    batched = BatchedNavigation(len(seeds), dtype=torch.float64, **options)
    rng = np.random.default_rng(0)
    teleports = 0
    for episode in range(2):  # the second episode continues each arena's generator
        first = batched.reset(seed=seeds if episode == 0 else None)
        singles = [env.reset(seed=s if episode == 0 else None)[0] for env, s in zip(envs, seeds)]
        np.testing.assert_array_equal(first.numpy(), np.stack(singles))
        np.testing.assert_array_equal(batched.goal.numpy(), np.stack([e.goal for e in envs]))
        truncated = False
        while not truncated:
            actions = np.stack([_towards_goal(e.position, e.goal, rng) for e in envs])
            observation, reward, truncated = batched.step(torch.as_tensor(actions))
            results = [env.step(a) for env, a in zip(envs, actions)]
            np.testing.assert_array_equal(observation.numpy(), np.stack([r[0] for r in results]))
            np.testing.assert_array_equal(reward.numpy(), [r[1] for r in results])
            assert truncated == results[0][3] and not any(r[2] for r in results)
            np.testing.assert_allclose(
                batched.position.numpy(), np.stack([e.position for e in envs]), rtol=0, atol=1e-15
            )
            teleports += int(reward.sum())
        np.testing.assert_array_equal(batched.goals.numpy(), [e.goals for e in envs])
    assert teleports >= 10  # the comparison covered many goal reaches


def test_reaching_the_goal_teleports_and_fires_the_reward_burst():
    env = NavigationEnv(goal_radius=0.1, max_speed=2.0)
    c = env.config
    observation, info = env.reset(seed=5)
    assert not observation[c.n_place :].any()
    rewards, bursts, t = [], [], 0
    while True:
        before = env.position.copy()
        heading = (env.goal - before) / np.linalg.norm(env.goal - before)
        observation, reward, terminated, truncated, info = env.step(heading)
        t += 1
        if reward:
            moved = np.clip(before + 2.0 * 1e-3 * heading, 0, 1)
            assert np.linalg.norm(moved - env.goal) < c.goal_radius  # it did reach the goal...
            assert np.linalg.norm(env.position - env.goal) >= c.goal_radius  # ...and was moved out of it
            assert np.linalg.norm(env.position - before) > 0.01  # a jump, not a step
            assert info["reached"] and info["goals"] == len(rewards) + 1
            burst = [observation[c.n_place :].sum()] + [env.step(np.zeros(2))[0][c.n_place :].sum() for _ in range(15)]
            bursts.append(burst)
            t += 15
            rewards.append(t)
        if truncated or len(rewards) == 5:
            break
    assert len(rewards) == 5 and not terminated
    bursts = np.array(bursts)
    assert (bursts[:, 10:] == 0).all()  # 10 ms burst, silent afterwards
    expected = 10 * 10 * 0.5 * 5  # neurons x steps x p x goals
    assert abs(bursts[:, :10].sum() - expected) < 5 * np.sqrt(expected * 0.5)


def test_episode_length_and_stepping_past_the_end():
    env = NavigationEnv(episode_ms=30, dt_ms=0.5)
    env.reset(seed=0)
    flags = [env.step(np.zeros(2, dtype=np.float32))[3] for _ in range(60)]
    assert flags == [False] * 59 + [True] and env.config.steps == 60
    with pytest.raises(NavigationError, match="after the episode ended"):
        env.step(np.zeros(2))
    batched = BatchedNavigation(2, episode_ms=30)
    batched.reset(seed=0)
    assert [batched.step(torch.zeros(2, 2))[2] for _ in range(30)] == [False] * 29 + [True]


def test_place_cells_fire_at_their_documented_rates():
    env = NavigationEnv(episode_ms=4000)
    observation, _ = env.reset(seed=1)
    counts = observation.astype(np.int64)
    for _ in range(env.config.steps):  # standing still: the position never changes
        counts += env.step(np.zeros(2))[0].astype(np.int64)
    ticks = (np.arange(10) + 0.5) / 10
    centres = np.array([(x, y) for y in ticks for x in ticks])
    rates = 100.0 * np.exp(-((centres - env.position) ** 2).sum(axis=1) / (2 * 0.1**2))
    expected = rates * 1e-3 * (env.config.steps + 1)
    assert counts[100:].sum() == 0
    assert abs(counts[:100].sum() - expected.sum()) < 5 * np.sqrt(expected.sum())
    near = expected > 20
    assert near.sum() >= 3
    np.testing.assert_allclose(counts[:100][near], expected[near], rtol=0.5)
    assert counts[:100][expected < 0.01].sum() <= 2


@pytest.mark.parametrize("seed", range(4))
def test_speed_is_bounded_and_walls_hold(seed):
    rng = np.random.default_rng(seed)
    env = NavigationEnv(goal_radius=0.01, max_speed=4.0)
    env.reset(seed=seed)
    walls = 0
    for _ in range(2000):
        action = rng.normal(0, 2, 2) + np.array([2.0, 1.0])  # drift into the walls
        before = env.position.copy()
        if env.step(action)[4]["reached"]:
            continue
        step = env.position - before
        assert np.linalg.norm(step) <= 4.0e-3 + 1e-12
        assert (0 <= env.position).all() and (env.position <= 1).all()
        free = before + 4e-3 * action / max(1, np.linalg.norm(action))
        if ((free > 0) & (free < 1)).all():
            np.testing.assert_allclose(step, free - before, atol=1e-15)
        else:
            walls += 1
    assert walls > 0  # the walk did push against a wall


def test_reference_policies_bracket_the_task():
    options = dict(episode_ms=1000)
    random_goals = random_policy_goals_per_episode(episodes=24, **options)
    oracle_goals = oracle_goals_per_episode(episodes=24, **options)
    assert random_goals < 1 < 5 < oracle_goals
    assert random_policy_goals_per_episode(episodes=24, **options) == random_goals  # seeded
    per_episode = goals_per_episode(oracle_policy, episodes=10, batch_size=4, **options)
    assert per_episode.shape == (10,)
    np.testing.assert_array_equal(per_episode, goals_per_episode(oracle_policy, episodes=10, batch_size=10, **options))


def test_episode_seeds_are_fixed_and_distinct_per_split():
    assert episode_seeds("test", 5) == episode_seeds("test", 5)
    assert episode_seeds("test", 5, seed=1) != episode_seeds("test", 5)
    assert not set(episode_seeds("test", 200)) & set(episode_seeds("validation", 200))
    with pytest.raises(NavigationError, match="unknown split 'train'"):
        episode_seeds("train", 3)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"goal_size": 0.1}, "unknown navigation option goal_size (accepted: episode_ms, dt_ms, goal_radius"),
        ({"goal_radius": -0.1}, "goal_radius must be > 0"),
        ({"goal_radius": 0.5}, "goal_radius must be < 0.5"),
        ({"episode_ms": 10.5}, "episode_ms=10.5 ms is not a whole number of dt_ms=1.0 ms steps"),
        ({"place_cells_per_side": 2.5}, "place_cells_per_side must be a whole number"),
        ({"max_speed": float("nan")}, "max_speed must be a finite number"),
        ({"reward_rate_hz": 1500}, "reward_rate_hz must be at most 1000 Hz"),
        ({"render_mode": "human"}, "has no render modes"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(NavigationError) as error:
        NavigationEnv(**options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_calls_are_one_line_errors():
    env = NavigationEnv()
    with pytest.raises(NavigationError, match="before reset"):
        env.step(np.zeros(2))
    env.reset(seed=0)
    with pytest.raises(NavigationError, match="action must be 2 finite numbers"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(NavigationError, match="action must be 2 finite numbers"):
        env.step(np.zeros(3))
    batched = BatchedNavigation(3)
    with pytest.raises(NavigationError, match="2 seeds for 3 arenas"):
        batched.reset(seed=[1, 2])
    batched.reset(seed=0)
    with pytest.raises(NavigationError, match=r"actions must have shape \(3, 2\)"):
        batched.step(torch.zeros(2, 2))
    with pytest.raises(NavigationError, match="batch must be a positive integer"):
        BatchedNavigation(0)
    assert NavigationConfig().n_inputs == 110 and NavigationConfig().steps == 2000


def test_the_draft_agent_document_runs_in_closed_loop_with_the_batched_env(models):
    """models/lsnn_navigation.yaml plugs into the env through Twin.step: policy and value readouts, gradients."""
    from lsnn_bio import load_network
    from lsnn_bio.twin import Twin

    spec = load_network(models / "lsnn_navigation.yaml")
    env = BatchedNavigation(4, episode_ms=40)
    assert spec.inputs["observation"].size == env.n_inputs
    twin = Twin(spec)
    state, observation, truncated = twin.initial_state(4), env.reset(seed=0), False
    log_probabilities, values = [], []
    while not truncated:
        state, out = twin.step(state, {"observation": observation})
        assert out.outputs["policy"].shape == (4, 2) and out.outputs["value"].shape == (4, 1)
        policy = torch.distributions.Normal(out.outputs["policy"], 0.5)
        action = policy.sample()
        log_probabilities.append(policy.log_prob(action).sum(-1))
        values.append(out.outputs["value"][:, 0])
        observation, reward, truncated = env.step(action)
    loss = -(torch.stack(log_probabilities) * 1.0).mean() + torch.stack(values).pow(2).mean()
    loss.backward()
    gradients = [p.grad for p in twin.parameters() if p.grad is not None]
    assert gradients and all(torch.isfinite(g).all() for g in gradients) and any(g.abs().sum() > 0 for g in gradients)

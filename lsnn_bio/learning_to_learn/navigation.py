"""Meta-RL navigation back in Brian2: the trained agent, weights frozen, plays held-out arenas in closed loop.

``validate_navigation`` lets Brian2 play held-out episodes (``brian/closed_loop.py``) beside the
twin playing the same episodes with the same action noise, and reports goals per episode of both
and how often they took the same action. ``navigation_episodes`` are the Brian2 episodes
themselves; ``simulate_navigation`` writes them as Neo (goal events, positions; ``neo/episodes.py``).
"""

import time

import numpy as np

from ..progress import STDERR
from ..progress import bar as progress_bar
from ..trained import load_trained
from .common import annotations, check_split, check_task, trained_twin

ACTION_TOLERANCE = 1e-9  # two float64 engines computing the same action differ by rounding only


def _agent(trained):
    """(steps per decision, decisions per episode, policy std, actor-critic settings) of a navigation checkpoint.

    The trainer stored its settings with every default filled in, so reading them needs neither torch nor a2c.py.
    """
    from ..environments.agent import decision_steps, decisions_per_episode
    from ..training import checkpoint as checkpoints

    settings = trained.experiment.config["actor_critic"]
    every = decision_steps(settings["decision_ms"], trained.task.dt_ms)
    saved = checkpoints.read(trained.path)
    std = np.exp(np.asarray(saved.state["policy_log_std"], dtype=np.float64))
    return every, decisions_per_episode(trained.task.steps, every), std, settings


def navigation_episodes(checkpoint, split="test", episodes=3, record=None):
    """Brian2 (runtime device) playing the first ``episodes`` held-out episodes: (trained, [ClosedLoopEpisode])."""
    from ..brian.closed_loop import ClosedLoopNetwork
    from ..environments.agent import policy_noise

    check_split(split)
    trained = load_trained(checkpoint)
    check_task(trained, "meta_rl_navigation", "navigation_episodes")
    every, decisions, std, settings = _agent(trained)
    network = ClosedLoopNetwork(trained.spec, trained.task.steps, trained.input, settings["policy"], record=record)
    played = []
    for index, seed in enumerate(trained.task.episode_seeds(split, episodes)):
        noise = policy_noise(trained.task.seed, split, index, decisions)
        played.append(network.play(trained.task.environment_options, seed, noise, std, every))
    return trained, played


def validate_navigation(
    checkpoint, split="test", episodes=None, twin_dtype="float64", progress=True, device="cpu", log=STDERR
):
    """Goals per episode of Brian2 in closed loop beside the twin's on the same held-out episodes and noise."""
    import torch

    from ..brian.closed_loop import ClosedLoopNetwork
    from ..environments.agent import held_out_noise, policy_noise
    from ..training.a2c import play

    check_split(split)
    trained = load_trained(checkpoint)
    check_task(trained, "meta_rl_navigation", "validate_navigation")
    every, decisions, std, settings = _agent(trained)
    task = trained.task
    episode_seeds = task.episode_seeds(split, episodes)
    count = len(episode_seeds)
    print(
        f"[validate] {trained.model_name}: {count} {split} episodes of {task.steps} steps, Brian2 runtime in closed loop",
        file=log,
        flush=True,
    )
    twin = trained_twin(trained, twin_dtype, device)
    env = task.environment(count, device=twin.device, dtype=twin.dtype)
    with torch.no_grad():
        twin_episode = play(
            twin,
            env,
            episode_seeds,
            held_out_noise(task.seed, split, range(count), decisions),
            torch.log(torch.as_tensor(std, dtype=twin.dtype, device=twin.device)),
            input=trained.input,
            policy=settings["policy"],
            value=settings["value"],
            steps_per_decision=every,
        )
    start = time.perf_counter()
    network = ClosedLoopNetwork(trained.spec, task.steps, trained.input, settings["policy"])
    build_seconds = time.perf_counter() - start
    brian_goals, agree, differences = [], 0, []
    run_seconds = 0.0
    bar = progress_bar(len(episode_seeds), "validate", enabled=progress, unit="episode")
    for index, seed in enumerate(episode_seeds):
        tick = time.perf_counter()
        episode = network.play(
            task.environment_options, seed, policy_noise(task.seed, split, index, decisions), std, every
        )
        run_seconds += time.perf_counter() - tick
        brian_goals.append(episode.goals)
        difference = np.abs(episode.actions - twin_episode.actions[:, index]).max(axis=-1)
        agree += int((difference <= ACTION_TOLERANCE).sum())
        differences.append(float(difference.max()))
        bar.update(1)
    bar.close()
    twin_goals = twin_episode.goals.astype(int)
    return {
        "checkpoint": str(trained.path),
        "checkpoint_sha256": trained.digest,
        "engine": "numpy (runtime, closed loop)",
        "split": split,
        "episodes": count,
        "twin_dtype": str(twin.dtype).replace("torch.", ""),
        "twin_goals_per_episode": float(twin_goals.mean()),
        "brian_goals_per_episode": float(np.mean(brian_goals)),
        "twin_goals": twin_goals.tolist(),
        "brian_goals": [int(g) for g in brian_goals],
        "action_agreement": agree / (count * decisions),
        "max_action_difference": max(differences),
        "decisions_per_episode": decisions,
        "build_seconds": build_seconds,
        "brian_seconds_per_episode": run_seconds / count,
    }


def simulate_navigation(checkpoint, episodes, out, record=(), split="test", log=STDERR):
    """Brian2 playing ``episodes`` held-out episodes in closed loop, written as Neo (goal events, position signal).

    Returns (report, trained, first episode's result, its goal events, its input raster) for a raster figure.
    """
    from ..neo import write_block
    from ..neo.episodes import goal_events, navigation_block
    from ..simulation import record_plan

    trained = load_trained(checkpoint)
    check_task(trained, "meta_rl_navigation", "simulate_navigation")
    print(
        f"[simulate] {episodes} {split} episodes of {trained.model_name}, Brian2 runtime in closed loop",
        file=log,
        flush=True,
    )
    trained, played = navigation_episodes(checkpoint, split, episodes, record_plan(trained.spec, record))
    block = navigation_block(
        trained.spec,
        played,
        trained.task.episode_seeds(split, episodes),
        simulator="brian2",
        annotations=annotations(trained, "numpy", split),
    )
    write_block(block, out)
    report = {
        "out": str(out),
        "engine": "numpy",
        "trials": len(played),
        "goals": [e.goals for e in played],
        "spikes": int(sum(e.result.spikes[p].sum() for e in played for p in e.result.spikes)),
    }
    return report, trained, played[0].result, goal_events(played[0]), played[0].inputs

"""Navigation before and after meta-training: the agent's paths in held-out arenas, untrained above, trained below.

    python analysis/navigation_trajectories.py runs/meta_rl_navigation/checkpoint.safetensors \
        --out runs/meta_rl_navigation_trajectories.png

The first ``--episodes`` test episodes, played by the twin with the checkpoint's initial network
(the same seed's weights before any update, initial policy spread) and with its trained network,
on the same arenas and the same action noise (``environments/agent.py``). Each panel: the hidden
goal (circle), the path coloured by time (dark early, light late), a star where the agent reached
the goal and a dotted jump to where it was teleported. A meta-trained agent explores until the
first goal and then returns more directly.
"""

import argparse
from pathlib import Path

import numpy as np
import torch


def play_agent(trained, twin, log_std, count, split="test"):
    """Positions (steps + 1, count, 2), goals (count, 2), goals reached (count,), goal steps per episode."""
    from lsnn_bio.environments.agent import decision_steps, decisions_per_episode, held_out_noise
    from lsnn_bio.training.a2c import actor_critic_settings, play

    settings = actor_critic_settings(trained.experiment.config)
    every = decision_steps(settings["decision_ms"], trained.task.dt_ms)
    seeds = trained.task.episode_seeds(split, count)
    noise = held_out_noise(
        trained.task.seed, split, range(len(seeds)), decisions_per_episode(trained.task.steps, every)
    )
    env = trained.task.environment(len(seeds), dtype=twin.dtype)
    with torch.no_grad():
        episode = play(
            twin,
            env,
            seeds,
            noise,
            log_std,
            input=trained.input,
            policy=settings["policy"],
            value=settings["value"],
            steps_per_decision=every,
            record_positions=True,
        )
    return episode


def agents(checkpoint):
    """(trained, [(label, twin, log_std), ...]): the untrained and the trained agent of a checkpoint."""
    from lsnn_bio.learning_to_learn import trained_twin
    from lsnn_bio.learning_to_learn.common import check_task
    from lsnn_bio.trained import load_trained
    from lsnn_bio.training import checkpoint as checkpoints
    from lsnn_bio.training.a2c import actor_critic_settings
    from lsnn_bio.twin import Twin

    trained = load_trained(checkpoint)
    check_task(trained, "meta_rl_navigation", "navigation_trajectories")
    settings = actor_critic_settings(trained.experiment.config)
    twin = trained_twin(trained)
    untrained = Twin(trained.experiment.network(), dtype=twin.dtype)
    initial = torch.full((2,), float(np.log(settings["initial_std"])), dtype=twin.dtype)
    saved = checkpoints.load(trained.path)
    log_std = saved.state["policy_log_std"].to(twin.dtype)
    return trained, [("untrained", untrained, initial), (f"trained ({saved.iteration} iterations)", twin, log_std)]


def draw(checkpoint, out, episodes=4):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Circle

    from lsnn_bio.errors import LsnnBioError

    trained, rows = agents(checkpoint)
    if not 1 <= episodes <= trained.task.split_size("test"):
        raise LsnnBioError(
            f"--episodes {episodes}: accepted 1 to {trained.task.split_size('test')}, the run's test episodes"
        )
    radius = trained.task.environment_config.goal_radius
    figure, axes = plt.subplots(len(rows), episodes, figsize=(2.4 * episodes, 2.6 * len(rows)), squeeze=False)
    for r, (label, twin, log_std) in enumerate(rows):
        episode = play_agent(trained, twin, log_std, episodes)
        positions = episode.positions
        for e in range(episodes):
            ax = axes[r, e]
            path = positions[:, e]
            jumps = np.linalg.norm(np.diff(path, axis=0), axis=-1) > 0.05  # teleports
            segments = np.stack([path[:-1], path[1:]], axis=1)[~jumps]
            colours = plt.cm.viridis(np.linspace(0, 1, len(path) - 1))[~jumps]
            ax.add_collection(LineCollection(segments, colors=colours, linewidths=1.0))
            for t in np.nonzero(jumps)[0]:
                ax.plot(*path[t], "*", ms=7, color="C3")
                ax.plot(*np.stack([path[t], path[t + 1]]).T, ":", color="0.6", lw=0.8)
            ax.plot(*path[0], "o", ms=4, color="k")
            ax.add_patch(Circle(episode.goal_positions[e], radius, fill=False, color="C3", lw=1.2))
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{int(episode.goals[e])} goals", fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=8)
    figure.suptitle(
        f"{trained.experiment.name}: test episodes ({trained.task.steps} ms; dot: start, star: goal reached)",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(out, dpi=150)
    plt.close(figure)
    return Path(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "checkpoint", metavar="RUN", help="a meta_rl_navigation run folder or its checkpoint.safetensors"
    )
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--episodes", type=int, default=4, help="test episodes, one column each (default 4)")
    args = parser.parse_args(argv)
    from lsnn_bio.errors import one_line_errors

    with one_line_errors("navigation_trajectories"):
        print(draw(args.checkpoint, args.out, args.episodes))


if __name__ == "__main__":
    main()

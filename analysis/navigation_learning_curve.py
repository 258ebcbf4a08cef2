"""Meta-RL learning curves: goals per episode against outer-loop iterations, beside the random and goal-knowing policies.

    python analysis/navigation_learning_curve.py runs/meta_rl_navigation runs/meta_rl_navigation_lif \
        --out runs/meta_rl_navigation_curve.png

One line per run folder (``lsnn-bio train`` on a ``meta_rl_navigation`` experiment): goals per
episode on the fixed validation episodes at every validation (iteration 0 is the untrained agent),
the training batches' goals as a faint running mean, and the test figure from summary.json as a
star at the last iteration (read once). Horizontal lines: the random policy (uniform actions,
held for one decision interval) and the goal-knowing oracle on the test episodes, from the first
run's summary.
"""

import argparse
import json
from pathlib import Path

import numpy as np


def read_run(folder):
    from lsnn_bio.training.run_folder import folder_of

    folder = folder_of(folder)
    metrics = folder / "metrics.jsonl"
    if not metrics.is_file():
        raise SystemExit(f"{folder}: no metrics.jsonl (expected a run folder written by lsnn-bio train)")
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    if not any("goals_per_episode" in r for r in records):
        raise SystemExit(f"{folder}: metrics.jsonl has no goals_per_episode (not a meta_rl_navigation run)")
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    return (summary["experiment"] if summary else folder.name), records, summary


def draw(folders, out, labels=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [read_run(f) for f in folders]
    figure, ax = plt.subplots(figsize=(6.2, 3.8))
    for i, (name, records, summary) in enumerate(runs):
        label = labels[i] if labels else name
        train = [r for r in records if r["split"] == "train"]
        if train:
            window = max(1, len(train) // 25)
            goals = np.convolve([r["goals_per_episode"] for r in train], np.ones(window) / window, mode="valid")
            ax.plot(np.arange(len(goals)) + window, goals, color=f"C{i}", alpha=0.3, lw=1)
        validation = [r for r in records if r["split"] == "validation"]
        ax.plot(
            [r["iteration"] for r in validation],
            [r["goals_per_episode"] for r in validation],
            "o-",
            ms=3,
            color=f"C{i}",
            label=f"{label}: validation",
        )
        if summary is not None:
            ax.plot(
                [summary["iterations"]],
                [summary["test_goals_per_episode"]],
                "*",
                ms=12,
                color=f"C{i}",
                mec="k",
                label=f"{label}: test {summary['test_goals_per_episode']:.2f}",
            )
    summary = next((s for _, _, s in runs if s is not None), None)
    if summary is not None:
        ax.axhline(
            summary["random_held_policy_goals_per_episode"],
            ls="--",
            color="0.4",
            lw=1,
            label=f"random policy {summary['random_held_policy_goals_per_episode']:.2f}",
        )
        ax.axhline(
            summary["oracle_goals_per_episode"],
            ls=":",
            color="k",
            lw=1,
            label=f"goal-knowing oracle {summary['oracle_goals_per_episode']:.1f}",
        )
    ax.set_xlabel("outer-loop iteration")
    ax.set_ylabel("goals per episode")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", framealpha=0.9)
    figure.tight_layout()
    figure.savefig(out, dpi=150)
    plt.close(figure)
    return Path(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="meta_rl_navigation run folders (e.g. LSNN, then its LIF-only control)")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--labels", default=None, help="comma-separated names (default: the experiment names)")
    args = parser.parse_args(argv)
    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    if labels and len(labels) != len(args.runs):
        raise SystemExit(f"--labels names {len(labels)} lines for {len(args.runs)} run folders")
    from lsnn_bio.errors import one_line_errors

    with one_line_errors("navigation_learning_curve"):
        print(draw(args.runs, args.out, labels))


if __name__ == "__main__":
    main()

"""Learning curves from run folders: validation accuracy against iterations, the test figure marked once at the end.

    python analysis/learning_curve.py runs/smnist_t10k runs/smnist_t10k_lif --out runs/smnist_t10k_curve.png

One panel per run folder (an `lsnn-bio train` output: metrics.jsonl, summary.json), side by side on a
shared accuracy axis: the validation accuracy at every validation (the only figure training looked
at), the training batches' accuracy as a faint running mean, the test accuracy from summary.json as
one star at the last iteration (read once, after training), and the paper's figure for the
experiment where the reference gives one (Table S1, trained on 55,000 digits: a reference line, not
the same experiment).
"""

import argparse
import json
from pathlib import Path

import numpy as np

# experiment name -> (test accuracy the paper reports, label)
PAPER = {
    "smnist": (0.942, "paper, Table S1 mean (60k digits)"),
    "smnist_t10k": (0.942, "paper, Table S1 mean (60k digits)"),
    "smnist_lif": (0.609, "paper, Table S1 LIF-only mean"),
    "smnist_t10k_lif": (0.609, "paper, Table S1 LIF-only mean"),
}


CLASSIFICATION_ONLY = (
    "(accepted: classification runs such as store_recall or smnist; the learning-to-learn figures are drawn by "
    "l2l_mse_by_example.py and navigation_learning_curve.py)"
)


def read_run(folder):
    """(experiment name, records by split, summary or None) of one run folder."""
    from lsnn_bio.errors import LsnnBioError
    from lsnn_bio.training.run_folder import folder_of

    folder = folder_of(folder)
    metrics = folder / "metrics.jsonl"
    if not metrics.is_file():
        raise LsnnBioError(f"{folder}: no metrics.jsonl (expected a run folder written by lsnn-bio train)")
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    if any("accuracy" not in r for r in records):
        raise LsnnBioError(f"{folder}: its metrics have no accuracy " + CLASSIFICATION_ONLY)
    by_split = {split: [r for r in records if r["split"] == split] for split in ("train", "validation", "test")}
    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    name = summary["experiment"] if summary else folder.name
    return name, by_split, summary


def running_mean(values, window):
    if len(values) < window or window <= 1:
        return np.asarray(values, dtype=float)
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def draw(folders, out, labels=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    runs = [read_run(folder) for folder in folders]
    figure, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.6), sharey=True, squeeze=False)
    for k, (ax, (name, by_split, summary)) in enumerate(zip(axes[0], runs)):
        train, validation = by_split["train"], by_split["validation"]
        if train:
            window = max(1, len(train) // 50)
            smooth = running_mean([r["accuracy"] for r in train], window)
            ax.plot(
                np.arange(len(smooth)) + window, smooth, color="0.7", lw=1, label=f"train batches (mean of {window})"
            )
        if validation:
            ax.plot(
                [r["iteration"] for r in validation],
                [r["accuracy"] for r in validation],
                "o-",
                ms=3,
                color="C0",
                label="validation",
            )
        if summary is not None:
            ax.plot(
                [summary["iterations"]],
                [summary["test_accuracy"]],
                "*",
                ms=12,
                color="C3",
                label=f"test, once at the end: {100 * summary['test_accuracy']:.1f} %",
            )
        if name in PAPER:
            value, text = PAPER[name]
            ax.axhline(value, ls=":", color="k", lw=1, label=f"{text}: {100 * value:.1f} %")
        ax.set_title(labels[k] if labels else name)
        ax.set_xlabel("iteration")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best", framealpha=0.85)
    axes[0][0].set_ylabel("accuracy")
    figure.tight_layout()
    figure.savefig(out, dpi=150)
    plt.close(figure)
    return Path(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "runs", nargs="+", help="run folders written by lsnn-bio train (e.g. the LSNN and its LIF-only control)"
    )
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--labels", default=None, help="comma-separated panel titles (default: the experiment names)")
    args = parser.parse_args(argv)
    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    if labels and len(labels) != len(args.runs):
        raise SystemExit(f"--labels names {len(labels)} panels for {len(args.runs)} run folders")
    from lsnn_bio.errors import one_line_errors

    with one_line_errors("learning_curve"):
        print(draw(args.runs, args.out, labels))


if __name__ == "__main__":
    main()

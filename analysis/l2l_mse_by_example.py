"""Learning within an episode with frozen weights: test MSE against example index (the paper's Fig. 2C/E in spirit).

    python analysis/l2l_mse_by_example.py runs/l2l_regression runs/l2l_regression_lif --out runs/l2l_regression_mse.png
    python analysis/l2l_mse_by_example.py runs/l2l_sine runs/l2l_sine_lif --out runs/l2l_sine_mse.png \
        --brian runs/l2l_sine/validate.json

One curve per run folder (``lsnn-bio train`` on a ``function_regression`` experiment: summary.json's
``test_mse_by_example``, the mean over held-out functions at every example index) or, after the first, per
JSON file written by ``l2l_lstm.py --out`` (an LSTM on the same task), and the linear
baseline fitted to the examples seen so far on the same test functions (``linear_baseline_mse_by_example``;
the runs share the task, so it is drawn once). ``--brian`` adds Brian2's per-example MSE from a
``validate_regression`` JSON (``brian_mse``). ``--backprop`` adds the paper's second baseline on the same
test functions: backprop on the target architecture (10 sigmoids) with a prior for small weights, fitted
afresh to the examples seen before every example (``tasks/backprop_baseline.py``; about a minute per 128
functions of 50 examples on one core); its hyperparameters are the module's defaults, not tuned on the test
functions. The shaded half is where ``test_mse`` averages.
"""

import argparse
import json
from pathlib import Path

import numpy as np


def read_json(path, what):
    """A JSON file's object, or one line saying the file is not ``what``."""
    from lsnn_bio.errors import LsnnBioError

    try:
        return json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LsnnBioError(f"{path}: not {what} ({type(error).__name__}: {error})") from None


def read_summary(folder):
    """A run folder's summary.json (a checkpoint stands for its folder); after the first, also the JSON of
    ``l2l_lstm.py --out``."""
    from lsnn_bio.errors import LsnnBioError
    from lsnn_bio.training.run_folder import folder_of

    folder = folder_of(folder)
    path = folder if folder.is_file() else folder / "summary.json"
    if not path.is_file():
        raise LsnnBioError(f"{folder}: no summary.json (expected a finished lsnn-bio train run folder)")
    summary = read_json(path, "a run's summary.json or an l2l_lstm.py --out file")
    if "test_mse_by_example" not in summary:
        raise LsnnBioError(f"{path}: no test_mse_by_example (not a function_regression run)")
    return summary


def read_brian(path, folder):
    """A ``lsnn-bio validate --json`` report of the first run's own checkpoint."""
    import hashlib

    from lsnn_bio.errors import LsnnBioError

    report = read_json(path, "a lsnn-bio validate --json report")
    if not isinstance(report, dict) or "brian_mse" not in report:
        raise LsnnBioError(f"--brian {path}: no brian_mse (accepted: the JSON of lsnn-bio validate --json on the run)")
    checkpoint = Path(folder) / "checkpoint.safetensors"
    if checkpoint.is_file() and report.get("checkpoint_sha256") != hashlib.sha256(checkpoint.read_bytes()).hexdigest():
        raise LsnnBioError(
            f"--brian {path}: validates another checkpoint than {checkpoint} ({report.get('checkpoint')})"
        )
    return report


def backprop_curve(folder):
    """(per-example MSE, test_mse) of backprop on the target architecture, on the run's test functions."""
    from lsnn_bio.learning_to_learn import regression_batches
    from lsnn_bio.tasks.backprop_baseline import backprop_predictions
    from lsnn_bio.tasks.regression_scores import test_mse, test_mse_by_example
    from lsnn_bio.trained import load_trained

    task = load_trained(Path(folder) / "checkpoint.safetensors").task
    if task.family != "network":
        from lsnn_bio.errors import LsnnBioError

        raise LsnnBioError(
            f"{folder}: --backprop fits the target-network architecture; this run's family is {task.family}"
        )
    batches = regression_batches(task, "test")
    x, targets = (np.concatenate([getattr(b, name) for b in batches]) for name in ("x", "targets"))
    predictions = backprop_predictions(x, targets)
    return test_mse_by_example(predictions, targets), test_mse(predictions, targets)


def draw(folders, out, labels=None, brian=None, log=True, backprop=False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lsnn_bio.errors import LsnnBioError
    from lsnn_bio.training.run_folder import folder_of

    folders = [folder_of(f) for f in folders]
    summaries = [read_summary(f) for f in folders]
    if "test_functions" not in summaries[0]:
        raise LsnnBioError(f"{folders[0]}: the first curve must be a run folder (its summary has the baselines)")
    report = read_brian(brian, folders[0]) if brian else None
    names = [s.get("network", s["experiment"]) for s in summaries]
    names = [
        f"{n} ({f.name})" if names.count(n) > 1 else n for n, f in zip(names, folders)
    ]  # two runs of one experiment
    figure, ax = plt.subplots(figsize=(6.0, 4.6))
    examples = len(summaries[0]["test_mse_by_example"])
    k = np.arange(examples)
    ax.axvspan(examples // 2 - 0.5, examples - 0.5, color="0.93", zorder=0, label="averaged in test_mse")
    for i, summary in enumerate(summaries):
        name = labels[i] if labels else names[i]
        ax.plot(
            k,
            summary["test_mse_by_example"],
            "-",
            color=f"C{i}",
            lw=1.6,
            label=f"{name} (test_mse {summary['test_mse']:.3g})",
        )
    first = summaries[0]
    ax.plot(
        k,
        first["linear_baseline_mse_by_example"],
        "--",
        color="k",
        lw=1.2,
        label=f"linear fit to examples seen (test_mse {first['linear_baseline_mse']:.3g})",
    )
    if backprop:
        curve, score = backprop_curve(folders[0])
        print(f"backprop on the target architecture: test_mse {score:.4g}")
        ax.plot(
            k, curve, "-.", color="0.4", lw=1.2, label=f"backprop on the target architecture (test_mse {score:.3g})"
        )
    if report:
        ax.plot(
            k[: len(report["brian_mse"])],
            report["brian_mse"],
            ":",
            color="C3",
            lw=1.6,
            label=f"Brian2, frozen weights ({report['functions']} functions)",
        )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("example index within the episode (20 ms each)")
    ax.set_ylabel("MSE over test functions")
    ax.set_xlim(-0.5, examples - 0.5)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)  # off the curves
    ax.set_title(f"{first['test_functions']} new target functions, weights frozen", fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=150)
    plt.close(figure)
    return Path(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "runs",
        nargs="+",
        help="function_regression run folders (e.g. LSNN, then its LIF-only control); after the first, also "
        "l2l_lstm.py --out JSON files",
    )
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--labels", default=None, help="comma-separated curve names (default: the experiment names)")
    parser.add_argument("--brian", default=None, help="a validate_regression JSON to add Brian2's curve")
    parser.add_argument(
        "--backprop", action="store_true", help="add backprop on the target architecture (network family only)"
    )
    parser.add_argument("--linear-y", action="store_true", help="linear instead of logarithmic MSE axis")
    args = parser.parse_args(argv)
    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    if labels and len(labels) != len(args.runs):
        raise SystemExit(f"--labels names {len(labels)} curves for {len(args.runs)} run folders")
    from lsnn_bio.errors import one_line_errors

    with one_line_errors("l2l_mse_by_example"):
        print(draw(args.runs, args.out, labels, args.brian, log=not args.linear_y, backprop=args.backprop))


if __name__ == "__main__":
    main()

"""Is one learning-to-learn network better than another on the same new functions? A paired comparison.

    python analysis/l2l_paired.py runs/l2l_regression/checkpoint.safetensors runs/l2l_regression_lif/checkpoint.safetensors

Both checkpoints must come from the same task (so the held-out functions are the same). Each network (float64
twin of its trained weights) runs every function of ``--split``; its ``test_mse`` per function (the mean over
the second half of the episode, as in summary.json) is compared function by function: the mean difference with
its standard error, how many functions each network predicts better, and the paired t-test and Wilcoxon
signed-rank p-values (scipy). This covers the variability across functions only: each network is one training
run, and training seeds are not sampled.
"""

import argparse
import json

import numpy as np


def load(checkpoint):
    """The trained network of a ``function_regression`` checkpoint or run folder (``load_trained``)."""
    from lsnn_bio.learning_to_learn.common import check_task
    from lsnn_bio.trained import load_trained

    trained = load_trained(checkpoint)
    check_task(trained, "function_regression", "l2l_paired")
    return trained


def per_function_mse(trained, split="test", twin_dtype="float64", batch_size=64):
    """(functions,) MSE over the second half of each held-out episode of ``split``."""
    from lsnn_bio.learning_to_learn import twin_predictions

    predictions, targets, _ = twin_predictions(trained, split, twin_dtype=twin_dtype, batch_size=batch_size)
    squared = ((predictions - targets) ** 2).mean(axis=-1)  # (functions, examples)
    return squared[:, squared.shape[1] // 2 :].mean(axis=1)


def paired(first, second):
    """Statistics of ``second - first`` per function (positive: the first network is better)."""
    from scipy import stats

    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if first.shape != second.shape or first.ndim != 1 or len(first) < 2:
        raise SystemExit(f"need two equally long lists of at least 2 functions, got {first.shape} and {second.shape}")
    difference = second - first
    differs = bool(np.any(difference != 0))
    return {
        "functions": len(first),
        "first_mse": float(first.mean()),
        "second_mse": float(second.mean()),
        "mean_difference": float(difference.mean()),
        "standard_error": float(difference.std(ddof=1) / np.sqrt(len(first))),
        "first_better": int((difference > 0).sum()),
        "second_better": int((difference < 0).sum()),
        "t_test_p": float(stats.ttest_rel(first, second).pvalue) if differs else 1.0,
        "wilcoxon_p": float(stats.wilcoxon(first, second).pvalue) if differs else 1.0,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="run folder or checkpoint of the first network (e.g. the LSNN)")
    parser.add_argument("second", help="run folder or checkpoint of the second network (e.g. its LIF-only control)")
    parser.add_argument("--split", default="test", choices=["validation", "test"])
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")
    args = parser.parse_args(argv)
    from lsnn_bio.errors import one_line_errors

    with one_line_errors("l2l_paired"):
        compare(args.first, args.second, args.split, args.json)


def compare(first, second, split, as_json):
    from lsnn_bio.errors import LsnnBioError

    networks = load(first), load(second)
    tasks = [n.experiment.config["task"] for n in networks]
    differ = sorted(k for k in tasks[0].keys() | tasks[1].keys() if tasks[0].get(k) != tasks[1].get(k))
    if differ:
        raise LsnnBioError(f"the two checkpoints' tasks differ in {', '.join(differ)}: not the same functions")
    result = {"split": split, "twin_dtype": "float64", **paired(*(per_function_mse(n, split) for n in networks))}
    if as_json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{split} MSE over {result['functions']} functions (float64 twin): first {result['first_mse']:.4f}, second {result['second_mse']:.4f}"
    )
    print(
        f"second - first: {result['mean_difference']:.4f} +- {result['standard_error']:.4f} (s.e.); "
        f"first better on {result['first_better']}, second on {result['second_better']}; "
        f"paired t-test p = {result['t_test_p']:.2g}, Wilcoxon p = {result['wilcoxon_p']:.2g}"
    )


if __name__ == "__main__":
    main()

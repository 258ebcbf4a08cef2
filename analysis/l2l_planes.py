"""What has a learning-to-learn network learned of each new function's plane? Its error split into level, slopes and the rest.

    python analysis/l2l_planes.py runs/l2l_regression [more runs or checkpoints] [--split validation] [--json]

On the ``network`` family of target functions (the paper's 2-layer target networks) the functions are nearly
planes in (x1, x2): the linear predictor leaves about 7 % of their variance. A network below that predictor
must find each function's slopes. Over the second half of every held-out episode, a least-squares plane is
fitted to the network's predictions (its float64 twin, as ``lsnn-bio validate`` compares with Brian2) and one
to the targets (``regression_scores.plane_decomposition``). The MSE splits exactly into:
- planes: the two planes differ (wrong level or slopes);
- off the planes: what is left once both are removed. Exactly planar predictions would leave the targets' own
  curvature here ("planar predictions would leave ...").

The gain of a coefficient (a slope or the level) is the least-squares slope, across functions, of the
predicted coefficient on the true one; its correlation says whether the network knows which way a function
slopes. A calibrated estimate (the mean of the true coefficient given what the network has) has a gain equal
to its correlation squared, so a gain well below that means the predictions carry less of each slope than the
network has found.

``--redraws N`` runs the same episodes N more times with their inputs encoded as other spike trains (same
functions, same x) and splits the MSE once more (``regression_scores.spread_decomposition``): into the spread
of the predictions across the draws, the part that spike timing alone causes, and the systematic rest.

Validation is the default split: this is a diagnostic to decide on, and the test split is for the number
reported once. ``--json`` prints one object per line (JSON Lines).
"""

import argparse
import json


def load(path):
    """The trained network of a ``function_regression`` checkpoint of the network family, or of a run folder's."""
    from lsnn_bio.errors import LsnnBioError
    from lsnn_bio.learning_to_learn.common import check_task
    from lsnn_bio.trained import load_trained

    trained = load_trained(path)
    check_task(trained, "function_regression", "l2l_planes")
    if trained.task.family != "network":
        raise LsnnBioError(
            f"{trained.path}: l2l_planes needs the 'network' family of target functions, not '{trained.task.family}'"
        )
    return trained


def planes(trained, split="validation", redraws=0):
    """``plane_decomposition`` of a loaded network's predictions on every held-out function of ``split``; with
    ``redraws``, also the ``spread_decomposition`` over that many more draws of the input spikes."""
    from lsnn_bio.learning_to_learn import twin_predictions
    from lsnn_bio.tasks.regression_scores import plane_decomposition, spread_decomposition

    predictions, targets, x = twin_predictions(trained, split)
    result = {"split": split, "functions": len(x), **plane_decomposition(predictions, targets, x)}
    if redraws:
        draws = [predictions] + [twin_predictions(trained, split, redraw=r)[0] for r in range(redraws)]
        result["spike_timing"] = spread_decomposition(draws, targets)
    return result


def _number(value):
    return "n/a" if value is None else f"{value:.2f}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="l2l_planes", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders or checkpoints of function_regression runs")
    parser.add_argument(
        "--split", default="validation", choices=["validation", "test"], help="held-out functions (default: validation)"
    )
    parser.add_argument(
        "--redraws", type=int, default=0, help="also run the episodes with N other draws of their input spikes"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per run, one per line")
    args = parser.parse_args(argv)
    if args.redraws < 0:
        parser.error(f"--redraws {args.redraws}: accepted 0 (none) or more")
    from lsnn_bio.errors import one_line_errors

    with one_line_errors("l2l_planes"):
        report(args.runs, args.split, args.json, args.redraws)


def report(runs, split, as_json, redraws=0):
    networks = [(run, load(run)) for run in runs]  # every argument is checked before the first is evaluated
    for run, trained in networks:
        result = {"checkpoint": str(run), **planes(trained, split, redraws)}
        if as_json:
            print(json.dumps(result), flush=True)
            continue
        slopes = ", ".join(
            f"x{j + 1} gain {_number(s['gain'])} (correlation {_number(s['correlation'])})"
            for j, s in enumerate(result["slopes"])
        )
        level = result["level"]
        print(
            f"{run} ({result['functions']} {split} functions, float64 twin): MSE {result['mse']:.4f}"
            f" = planes {result['plane_mse']:.4f} + off the planes {result['off_plane_mse']:.4f}"
            f" (planar predictions would leave {result['target_off_plane_mse']:.4f} there)\n"
            f"  slopes: {slopes}; level gain {_number(level['gain'])} (correlation {_number(level['correlation'])})",
            flush=True,
        )
        if "spike_timing" in result:
            spikes = result["spike_timing"]
            print(
                f"  over {spikes['draws']} draws of the input spikes: MSE {spikes['mse']:.4f} = spread across the"
                f" draws {spikes['spread_mse']:.4f} + systematic {spikes['systematic_mse']:.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

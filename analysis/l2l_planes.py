"""What has a learning-to-learn network learned of each new function's plane? Its error split into level, slopes and the rest.

    python analysis/l2l_planes.py runs/l2l_regression/checkpoint.safetensors [--split validation] [--json]

On the ``network`` family the target functions are nearly planes (the linear predictor leaves about 7 % of
their variance), so a network below the linear predictor must find each function's slopes. Over the second
half of every held-out episode, a least-squares plane is fitted to the network's predictions (float64 twin)
and one to the targets (``regression_scores.plane_decomposition``). The MSE splits exactly into the planes'
difference and what lies off them. Gains (the fitted slope of the predicted coefficient on the true one,
across functions) and correlations say whether the network knows which way a function slopes and how much of
that slope its predictions carry. A calibrated estimate (the mean of the true coefficient given what the network
has) has a gain equal to its correlation squared: a gain well below that means the network's predictions carry
less of each slope than it has found. The validation split is the default: this is a diagnostic to decide on, and
the test split is for the number reported once.
"""

import argparse
import json


def planes(checkpoint, split="validation"):
    """``plane_decomposition`` of a ``function_regression`` checkpoint's predictions on ``split``."""
    from lsnn_bio.errors import LsnnBioError
    from lsnn_bio.learning_to_learn import twin_predictions
    from lsnn_bio.tasks.regression_scores import plane_decomposition
    from lsnn_bio.trained import load_trained

    trained = load_trained(checkpoint)
    if trained.task.name != "function_regression" or trained.task.family != "network":
        family = getattr(trained.task, "family", None)
        found = f"task '{trained.task.name}'" + (f" of the '{family}' family" if family else "")
        raise LsnnBioError(
            f"{checkpoint}: {found} (accepted: a function_regression checkpoint of the 'network' family)"
        )
    predictions, targets, x = twin_predictions(trained, split)
    return {"checkpoint": str(checkpoint), "split": split, **plane_decomposition(predictions, targets, x)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="+", help="checkpoints of function_regression runs (network family)")
    parser.add_argument("--split", default="validation", choices=["validation", "test"])
    parser.add_argument("--json", action="store_true", help="print one JSON object per checkpoint")
    args = parser.parse_args(argv)
    from lsnn_bio.errors import LsnnBioError

    for checkpoint in args.checkpoint:
        try:
            result = planes(checkpoint, args.split)
        except LsnnBioError as error:  # a missing or foreign checkpoint: one line, as the lsnn-bio commands say it
            raise SystemExit(f"l2l_planes: {error}") from None
        if args.json:
            print(json.dumps(result))
            continue
        slopes = ", ".join(
            f"x{j + 1} gain {s['gain']:.2f} (correlation {s['correlation']:.2f})"
            for j, s in enumerate(result["slopes"])
        )
        level = result["level"]
        print(
            f"{checkpoint} ({args.split}): MSE {result['test_mse']:.4f} = planes {result['plane_mse']:.4f}"
            f" + off the planes {result['off_plane_mse']:.4f} (targets alone: {result['target_off_plane_mse']:.4f})\n"
            f"  slopes: {slopes}; level gain {level['gain']:.2f} (correlation {level['correlation']:.2f})"
        )


if __name__ == "__main__":
    main()

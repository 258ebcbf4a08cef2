"""Scores and baselines of the learning-to-learn regression task (reference section 3.4), in numpy.

Arrays are per episode and example: predictions and targets (functions, K) or (functions, K,
outputs), inputs x (functions, K, n_x). ``test_mse`` averages over the second half of every episode
(examples K//2 .. K-1), where a learner has had time to learn; ``*_by_example`` averages over
functions (and outputs) for each example index, the curve that shows learning within an episode.

The linear baseline predicts example k from a linear function (with intercept) fitted to examples
0..k-1 of the same episode: plain least squares from k = 2 (n_x + 1) on, before that ridge
regression that penalises the slopes (not the intercept) with ``ridge`` = 1, so the second example
is predicted as the first one's target and a fit through barely more points than coefficients does
not extrapolate wildly (exact least squares at k = n_x + 1 gave a 30x larger error on the network
family). The first example (nothing seen yet) is predicted as 0, the mean of both families over
functions. On a linear F it is exact from example 2 (n_x + 1) on.
"""

import numpy as np

from .base import TaskError


def _as_3d(name, a):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise TaskError(f"{name} must be (functions, examples) or (functions, examples, outputs), got shape {a.shape}")
    return a


def _squared_errors(predictions, targets, mask):
    predictions, targets = _as_3d("predictions", predictions), _as_3d("targets", targets)
    if predictions.shape != targets.shape:
        raise TaskError(f"predictions {predictions.shape} and targets {targets.shape} must have the same shape")
    errors = ((predictions - targets) ** 2).mean(axis=-1)  # (functions, K)
    mask = np.ones(errors.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != errors.shape:
        raise TaskError(f"mask {mask.shape} must be (functions, examples) = {errors.shape}")
    return errors, mask


def test_mse_by_example(predictions, targets, mask=None):
    """Mean squared error per example index (K,), over functions (and outputs)."""
    errors, mask = _squared_errors(predictions, targets, mask)
    counts = mask.sum(axis=0)
    return np.where(counts > 0, (errors * mask).sum(axis=0) / np.maximum(counts, 1), np.nan)


def test_mse(predictions, targets, mask=None):
    """Mean squared error over the second half of every episode (examples K//2 .. K-1)."""
    errors, mask = _squared_errors(predictions, targets, mask)
    half = errors.shape[1] // 2
    errors, mask = errors[:, half:], mask[:, half:]
    return float((errors * mask).sum() / max(mask.sum(), 1))


test_mse.__test__ = test_mse_by_example.__test__ = False  # names start with 'test' but are not pytest tests


def linear_predictions(x, targets, ridge=1.0):
    """Prediction of example k from a linear fit to examples 0..k-1 of its episode (module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    targets = _as_3d("targets", targets)
    if x.ndim != 3 or x.shape[:2] != targets.shape[:2]:
        raise TaskError(
            f"x must be (functions, examples, n_x) matching targets {targets.shape[:2]}, got shape {x.shape}"
        )
    if not ridge > 0:
        raise TaskError(f"ridge must be > 0, got {ridge!r}")
    functions, examples, _ = x.shape
    n_x = x.shape[-1]
    features = np.concatenate([x, np.ones(x.shape[:2] + (1,))], axis=-1)  # (functions, K, n_x + 1)
    penalty = np.broadcast_to(np.sqrt(ridge) * np.eye(n_x + 1)[:n_x], (functions, n_x, n_x + 1))  # slopes only
    predictions = np.zeros_like(targets)
    for k in range(1, examples):
        seen, y = features[:, :k], targets[:, :k]
        if k < 2 * (n_x + 1):  # ridge: least squares on [X; sqrt(ridge) [I 0]], [y; 0]
            seen = np.concatenate([seen, penalty], axis=1)
            y = np.concatenate([y, np.zeros((functions, n_x, y.shape[-1]))], axis=1)
        weights = np.linalg.pinv(seen) @ y  # (functions, n_features, outputs)
        predictions[:, k] = np.einsum("bf,bfo->bo", features[:, k], weights)
    return predictions


def linear_baseline_by_example(x, targets, mask=None, ridge=1.0):
    """The linear baseline's MSE per example index (K,)."""
    return test_mse_by_example(linear_predictions(x, targets, ridge), targets, mask)


def linear_baseline_mse(x, targets, mask=None, ridge=1.0):
    """The linear baseline's MSE over the second half of every episode, as ``test_mse``."""
    return test_mse(linear_predictions(x, targets, ridge), targets, mask)


def plane_decomposition(predictions, targets, x):
    """Where a learner's second-half error lies, with one plane per episode fitted to its predictions and one to its targets.

    Over examples K//2 .. K-1 of every episode, least-squares planes (slopes on x and an intercept) are fitted
    to the predictions P and to the targets T. Residuals are orthogonal to the planes, so the MSE (``mse``) splits
    exactly into ``plane_mse`` (the planes differ: wrong level or slopes) and ``off_plane_mse`` (what is left
    once both planes are removed); ``target_off_plane_mse`` is what exactly planar predictions would leave in the
    second. Gains and correlations compare the fitted coefficients across episodes: a
    learner that knows which way each function slopes but cannot express it fully has correlations near 1 and
    slope gains well below 1. One output, at least 3 functions; a gain or correlation with nothing to compare
    (every function has the same coefficient) is None.
    """
    predictions, targets = _as_3d("predictions", predictions), _as_3d("targets", targets)
    if predictions.shape != targets.shape or targets.shape[-1] != 1:
        raise TaskError(
            f"predictions {predictions.shape} and targets {targets.shape} must have the same shape, with one output"
        )
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[:2] != targets.shape[:2]:
        raise TaskError(f"x must be (functions, examples, n_x) matching targets {targets.shape[:2]}, got {x.shape}")
    if x.shape[0] < 3:
        raise TaskError(f"{x.shape[0]} functions are too few to compare coefficients across (accepted: 3 or more)")
    half = x.shape[1] // 2
    features = np.concatenate([x[:, half:], np.ones(x[:, half:].shape[:2] + (1,))], axis=-1)
    if features.shape[1] < features.shape[2] + 1:
        raise TaskError(
            f"{x.shape[1]} examples leave too few in the second half to fit a plane on {x.shape[-1]} inputs "
            f"(accepted: {2 * x.shape[-1] + 3} or more)"
        )
    P, T = predictions[:, half:, 0], targets[:, half:, 0]
    solve = np.linalg.pinv(features)  # (functions, n_x + 1, examples in the half)
    p_coef, t_coef = np.einsum("bfk,bk->bf", solve, P), np.einsum("bfk,bk->bf", solve, T)
    p_plane, t_plane = np.einsum("bkf,bf->bk", features, p_coef), np.einsum("bkf,bf->bk", features, t_coef)

    def compare(j):
        p, t = p_coef[:, j], t_coef[:, j]
        spread = t.var()
        gain = float(((p - p.mean()) * (t - t.mean())).mean() / spread) if spread > 0 else None
        correlation = float(np.corrcoef(p, t)[0, 1]) if spread > 0 and p.var() > 0 else None
        return {"gain": gain, "correlation": correlation, "target_std": float(np.sqrt(spread))}

    n_x = x.shape[-1]
    return {
        "mse": float(((P - T) ** 2).mean()),
        "plane_mse": float(((p_plane - t_plane) ** 2).mean()),
        "off_plane_mse": float((((P - p_plane) - (T - t_plane)) ** 2).mean()),
        "target_off_plane_mse": float(((T - t_plane) ** 2).mean()),
        "slopes": [compare(j) for j in range(n_x)],
        "level": compare(n_x),
    }


def spread_decomposition(draws, targets):
    """How much of a learner's second-half error comes from the spike timing of its inputs, and how much not.

    ``draws`` (R >= 2, functions, K, outputs): predictions of the same episodes (functions and x) with their inputs
    encoded as R different spike trains. Per example, ``spread_mse`` is the variance of the predictions across the
    draws (unbiased) and ``systematic_mse`` what remains of their mean MSE, an unbiased estimate of the squared
    error of the prediction averaged over all spike trains: ``mse`` = ``spread_mse`` + ``systematic_mse``. A
    learner limited by spike-count noise has most of its error in the spread; one that has not found the function,
    in the systematic part, whatever its input rates.
    """
    draws = np.asarray(draws, dtype=np.float64)
    targets = _as_3d("targets", targets)
    if draws.ndim != 4 or draws.shape[1:] != targets.shape or len(draws) < 2:
        raise TaskError(f"draws must be (R >= 2, *targets.shape) with targets {targets.shape}, got shape {draws.shape}")
    half = targets.shape[1] // 2
    mse = float(np.mean([test_mse(d, targets) for d in draws]))
    spread = float(draws[:, :, half:].var(axis=0, ddof=1).mean())
    return {"draws": len(draws), "mse": mse, "spread_mse": spread, "systematic_mse": mse - spread}

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

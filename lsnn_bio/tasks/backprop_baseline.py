"""The paper's second regression baseline (reference section 3.4): backprop on the target architecture with a prior for small weights.

For every episode and every example k, a fresh 2-layer sigmoid network (the ``network`` family's
architecture: ``hidden`` sigmoids, any number of inputs) is fitted by Adam to examples 0..k-1 of
that episode, minimising sum_i (f(x_i) - y_i)^2 + ``weight_decay`` * |theta|^2 (a Gaussian prior
on all weights and biases, i.e. the MAP estimate), from weights drawn uniformly from
+-``init_scale`` by a seeded torch generator, and then predicts example k. Example 0 is predicted as
0, as in the linear baseline. All (episode, k) fits run as one batched optimisation in float32, so
the cost is about functions x len(at) x K x hidden multiply-adds per Adam step: a few seconds per
64 functions and 40 examples on an idle core, minutes for 128 x 100; pass ``at`` to fit only at
some example indices.
"""

import numpy as np

from .base import TaskError
from .regression_scores import _as_3d


def backprop_predictions(
    x, targets, at=None, hidden=10, weight_decay=1e-2, steps=300, learning_rate=0.05, init_scale=0.5, seed=0
):
    """Predictions (functions, len(at), outputs) for example indices ``at`` (default: all), see the module docstring."""
    import torch

    targets = _as_3d("targets", targets)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[:2] != targets.shape[:2]:
        raise TaskError(
            f"x must be (functions, examples, n_x) matching targets {targets.shape[:2]}, got shape {x.shape}"
        )
    functions, examples, n_x = x.shape
    at = np.arange(examples) if at is None else np.asarray(at, dtype=np.int64)
    if at.ndim != 1 or (at < 0).any() or (at >= examples).any():
        raise TaskError(f"at must be example indices in [0, {examples}), got {at!r}")
    outputs, n_at = targets.shape[-1], len(at)
    xs = torch.as_tensor(x, dtype=torch.float32)  # (B, K, n_x)
    ys = torch.as_tensor(targets, dtype=torch.float32)  # (B, K, O)
    seen = torch.as_tensor(np.arange(examples)[None, :] < at[:, None], dtype=torch.float32)  # (n_at, K): i < k

    generator = torch.Generator().manual_seed(int(seed))

    def uniform(*shape):
        return ((torch.rand(*shape, generator=generator) * 2 - 1) * init_scale).requires_grad_()

    w1, b1 = uniform(functions, n_at * hidden, n_x), uniform(functions, n_at * hidden, 1)
    w2, b2 = uniform(functions * n_at, outputs, hidden), torch.zeros(functions * n_at, outputs, 1, requires_grad=True)
    parameters = [w1, b1, w2, b2]

    def forward(inputs):  # inputs (B, n, n_x) -> (B, n_at, n, O): every fitted net on every input
        n = inputs.shape[1]
        h = torch.sigmoid(torch.baddbmm(b1, w1, inputs.transpose(1, 2)))  # (B, n_at * hidden, n)
        f = torch.baddbmm(b2, w2, h.reshape(functions * n_at, hidden, n))  # (B * n_at, O, n)
        return f.reshape(functions, n_at, outputs, n).transpose(2, 3)

    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    for _ in range(int(steps)):
        errors = ((forward(xs) - ys[:, None]) ** 2).sum(dim=-1)  # (B, n_at, K)
        loss = (errors * seen).sum() + weight_decay * sum((p**2).sum() for p in parameters)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        predictions = forward(xs)[:, np.arange(n_at), torch.as_tensor(at)]  # (B, n_at, O): net for k at x_k
    predictions = predictions.double().numpy()
    predictions[:, at == 0] = 0.0
    return predictions

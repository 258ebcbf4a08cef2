"""Pure functions for one time step, in Brian2's schedule order.

groups (state update) -> thresholds -> synapses -> resets. They take and return
plain tensors and dicts; the module in ``module.py`` owns parameters and loops
over time. Keeping them pure is what lets ``torch.compile`` trace a step.
"""
import torch

from .surrogates import spike

_INPLACE = {
    "+=": lambda a, b: a + b,
    "-=": lambda a, b: a - b,
    "*=": lambda a, b: a * b,
    "/=": lambda a, b: a / b,
}


def run_block(block, env, write=None):
    """Execute a block's statements on ``env`` in place; ``write(statement, old, new)`` merges writes."""
    for var, evaluate in block.time_dependent_scalars:
        env[var] = evaluate(env)
    for statement in block.statements:
        value = statement.evaluate(env)
        if statement.op == ":=":
            env[statement.var] = value
            continue
        old = env[statement.var]
        new = value if statement.op == "=" else _INPLACE[statement.op](old, value)
        if not torch.is_tensor(new):
            new = torch.full_like(old, float(new))
        env[statement.var] = write(statement, old, new) if write is not None else new


def state_update_write(statement, old, new, env):
    """Brian2's conditional write: ``unless refractory`` variables keep their value while refractory."""
    if statement.conditional:
        return torch.where(env["not_refractory"], new, old)
    return new


def threshold(plan, env, derivative, gamma, width):
    """Spikes where the condition holds; the pseudo-derivative sees (lhs - rhs)/|rhs|."""
    run_block(plan.setup, env)
    lhs, rhs = plan.lhs(env), plan.rhs(env)
    if not torch.is_tensor(lhs):
        lhs = torch.full_like(env["_zeros"], lhs)
    crossed = lhs > rhs if plan.strict else lhs >= rhs
    scale = torch.abs(rhs) if torch.is_tensor(rhs) else abs(rhs)
    if not torch.is_tensor(scale) and scale == 0:
        scale = 1.0  # a threshold at exactly 0: distance in the variable's own SI units
    z = spike((lhs - rhs) / scale, crossed, derivative, gamma, width)
    for mask in plan.masks:
        allowed = mask(env)
        z = z * allowed.to(z.dtype)
        crossed = crossed & allowed
    return z, crossed


def reset(block, env, z, crossed, detach):
    """Apply reset statements where a spike happened.

    The value is exact (``where``); the gradient of the reset with respect to the
    spike flows through ``(z - z.detach()) * (new - old)``, i.e. ``v - z*A`` for
    ``v -= A``, as in the paper, unless ``detach``.
    """
    carry_gradient = not detach and z.requires_grad

    def write(statement, old, new):
        merged = torch.where(crossed, new, old)
        if carry_gradient:
            merged = merged + (z - z.detach()) * (new - old)
        return merged

    run_block(block, env, write)


def deliver(buffer, presynaptic, weights):
    """Add this step's spikes into the delay ring buffer; return (current input, next buffer).

    ``weights`` is (n_pre, delays * n_post): slot d of the buffer holds what
    arrives d steps from now, so delay-0 synapses act in the same step, as in Brian2.
    """
    batch, delays, n_post = buffer.shape
    buffer = buffer + (presynaptic @ weights).view(batch, delays, n_post)
    arriving = buffer[:, 0]
    following = torch.cat([buffer[:, 1:], torch.zeros_like(buffer[:, :1])], dim=1)
    return arriving, following

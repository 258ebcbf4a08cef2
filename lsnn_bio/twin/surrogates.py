"""Spike functions: an exact Heaviside forward with a pseudo-derivative backward.

The forward pass takes the spike mask computed by the *threshold condition
itself* (``v > A``), not by ``x > 0``, so the twin spikes exactly when Brian2
does. The backward pass uses the pseudo-derivative of the normalised distance
to threshold ``x = (lhs - rhs)/|rhs|``; the paper's is ``gamma * max(0, 1 - |x|)``
with gamma = 0.3 (reference section 1.4).
"""
import math

import torch


def triangle(x, gamma=0.3, width=1.0):
    """The paper's pseudo-derivative: gamma * max(0, 1 - |x|/width)."""
    return gamma * torch.clamp(1.0 - torch.abs(x) / width, min=0.0)


def fast_sigmoid(x, gamma=0.3, width=1.0):
    """SuperSpike (Zenke & Ganguli 2018): gamma / (1 + |x|/width)^2."""
    return gamma / (1.0 + torch.abs(x) / width) ** 2


def gaussian(x, gamma=0.3, width=1.0):
    """A Gaussian bump of height gamma and standard deviation width."""
    return gamma * torch.exp(-0.5 * (x / width) ** 2)


def arctan(x, gamma=0.3, width=1.0):
    """The derivative of arctan (snnTorch's default shape), height gamma."""
    return gamma / (1.0 + (math.pi * x / width) ** 2)


PSEUDO_DERIVATIVES = {f.__name__: f for f in (triangle, fast_sigmoid, gaussian, arctan)}


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, mask, derivative, gamma, width):
        ctx.save_for_backward(x)
        ctx.derivative, ctx.gamma, ctx.width = derivative, gamma, width
        return mask.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.derivative(x, ctx.gamma, ctx.width), None, None, None, None


def spike(x, mask, derivative=triangle, gamma=0.3, width=1.0):
    """Spikes (0/1 in x's dtype) equal to ``mask``, with d spike/dx = derivative(x)."""
    return _Spike.apply(x, mask, derivative, gamma, width)

"""Spikes: the exact threshold condition forward, a pseudo-derivative backward.

The forward value is the condition Brian2 evaluates (``v > A``), so the twin spikes
exactly when Brian2 does. The backward pass multiplies by a pseudo-derivative of
the normalised distance to threshold ``x = (lhs - rhs)/|rhs|``; the paper's is
``gamma * max(0, 1 - |x|)`` (reference section 1.4). Each shape is a small
autograd Function (``setup_context`` style), so a generated step that uses it can
still be differentiated with ``torch.func`` and traced and compiled by Inductor.
"""

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PseudoDerivative:
    name: str
    derivative: object  # f'(x, gamma, width)
    antiderivative: object  # F(x, gamma, width), F' = f': the same gradient through plain torch operations

    def spike(self, gamma=0.3, width=1.0):
        """``spike(x, crossed)`` for the step: exact 0/1 values in x's dtype, gradient ``derivative(x)``."""
        gamma, width, derivative = float(gamma), float(width), self.derivative

        class Spike(torch.autograd.Function):
            @staticmethod
            def forward(x, crossed):
                return crossed.to(x.dtype)

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(inputs[0])

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return grad * derivative(x, gamma, width), None

        Spike.__name__ = Spike.__qualname__ = f"Spike_{self.name}"
        return Spike.apply


def _triangle_f(x, gamma, width):
    c = torch.clamp(x / width, -1.0, 1.0)
    return (gamma * width) * (c - 0.5 * c * torch.abs(c))


def _fast_sigmoid_f(x, gamma, width):
    return gamma * x / (1.0 + torch.abs(x) / width)


def _gaussian_f(x, gamma, width):
    return (gamma * width * math.sqrt(math.pi / 2)) * torch.erf(x / (width * math.sqrt(2.0)))


def _arctan_f(x, gamma, width):
    return (gamma * width / math.pi) * torch.atan(math.pi * x / width)


PSEUDO_DERIVATIVES = {
    p.name: p
    for p in (
        # the paper's: gamma * max(0, 1 - |x|/width)
        PseudoDerivative("triangle", lambda x, g, w: g * torch.clamp(1.0 - torch.abs(x) / w, min=0.0), _triangle_f),
        # SuperSpike (Zenke & Ganguli 2018): gamma / (1 + |x|/width)^2
        PseudoDerivative("fast_sigmoid", lambda x, g, w: g / (1.0 + torch.abs(x) / w) ** 2, _fast_sigmoid_f),
        # a Gaussian bump of height gamma and standard deviation width
        PseudoDerivative("gaussian", lambda x, g, w: g * torch.exp(-0.5 * (x / w) ** 2), _gaussian_f),
        # the derivative of arctan (snnTorch's default shape), height gamma
        PseudoDerivative("arctan", lambda x, g, w: g / (1.0 + (math.pi * x / w) ** 2), _arctan_f),
    )
}

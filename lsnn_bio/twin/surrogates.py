"""Spikes: the exact threshold condition forward, a pseudo-derivative backward.

The forward value is the condition Brian2 evaluates (``v > A``), so the twin spikes
exactly when Brian2 does. The gradient is that of a smooth function F of the
normalised distance to threshold ``x = (lhs - rhs)/|rhs|``: the spike is written
``crossed + (F(x) - F(x).detach())``, which equals ``crossed`` exactly and has
derivative F'(x), the pseudo-derivative. Written with plain torch operations (no
custom autograd Function), a generated step can be compiled and differentiated
with ``torch.func``. The paper's F' is ``gamma * max(0, 1 - |x|)`` (reference
section 1.4).
"""
import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PseudoDerivative:
    name: str
    derivative: object  # f'(x, gamma, width), for documentation and tests
    antiderivative: object  # F(x, gamma, width)

    def spike(self, gamma=0.3, width=1.0):
        """``spike(x, crossed)`` for the step: exact 0/1 values in x's dtype, gradient ``derivative(x)``."""
        gamma, width, antiderivative = float(gamma), float(width), self.antiderivative

        def spike(x, crossed):
            smooth = antiderivative(torch.nan_to_num(x), gamma, width)  # finite, so the value stays exactly 0/1
            return crossed.to(x.dtype) + (smooth - smooth.detach())

        return spike


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

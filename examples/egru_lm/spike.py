"""A Heaviside spike for training: 0/1 forward, a surrogate pseudo-derivative backward (both
example models use it, each with its paper's surrogate)."""
from __future__ import annotations

import torch


def heaviside(surrogate):
    """x -> (x > 0) whose gradient is g * surrogate(x)."""

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x > 0).to(x.dtype)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * surrogate(x)

    return Spike.apply

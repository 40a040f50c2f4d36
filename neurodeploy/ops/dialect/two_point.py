"""Two-point (L5PC) rate unit: basal drive r modulated by apical context c (Kay & Phillips).

    A(r, c) = r * (k1 + (1 - k1) * exp(k2 * r * c))

r is the sum of the ``basal`` port's inputs, c of the ``apical`` port's. The output is the
real-valued activation A itself (a rate unit, as the dialect node is): no spikes, no state, and
no output squashing (Kay & Phillips 1997 read p = sigmoid(A) as a firing probability; a graph
that wants that adds it). Source and variants: docs/equations.md.
"""
from __future__ import annotations

import numpy as np

from .common import port_inputs


class TwoPointState:
    ports = ("basal", "apical")

    def __init__(self, name, node, in_shapes, out_shape, sem, batch, dtype):
        self.name, self.batch, self.dtype = name, batch, dtype
        self.k1, self.k2 = np.asarray(node.k1, dtype), np.asarray(node.k2, dtype)
        n = self.k1.shape[0]
        self.in_shapes = {p: (n,) for p in self.ports}
        self.steps = 0

    def step(self, x) -> np.ndarray:
        x = port_inputs(self.name, x, self.ports, self.in_shapes, self.batch, self.dtype)
        r, c = x["basal"], x["apical"]
        self.steps += 1
        with np.errstate(over="ignore"):  # exp overflow -> +inf, as the formula says
            return r * (self.k1 + (1 - self.k1) * np.exp(self.k2 * r * c))

    def counters(self) -> dict[str, int]:
        return {"neuron_updates": self.steps * self.batch * self.k1.shape[0]}

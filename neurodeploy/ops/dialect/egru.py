"""EGRU (Subramoney et al., ICLR 2023; EvNN `EGRUScript`): a GRU cell that emits graded events.

Per step, with gate blocks [u, r, z] of W, R, b_W, b_R (docs/equations.md):
    vx = W x_t + b_W,  vh = R y_{t-1} + b_R
    u = sigma(vx_u + vh_u),  r = sigma(vx_r + vh_r),  z~ = tanh(vx_z + r * vh_z)
    c = u * c + (1 - u) * z~
    e = H(c - threshold) with H(0) = 0,  y = e * c (graded event),  c <- c - e * threshold
The model is discrete-time: dt, integrator and the semantics' reset do not apply (the reset is
the model's own, subtractive). ``v`` is c after the reset (EvNN's recorded state ``h``).
"""
from __future__ import annotations

import numpy as np

from .common import Product, port_inputs, product_counters, sigmoid


class EGRUState:
    ports = ("input",)

    def __init__(self, name, node, in_shapes, out_shape, sem, batch, dtype):
        self.name, self.batch, self.dtype = name, batch, dtype
        self.h = h = int(np.asarray(node.threshold).shape[0])
        self.in_shapes = {"input": (int(np.asarray(node.W).shape[1]),)}
        self.w_in, self.w_rec = Product(node.W, dtype), Product(node.R, dtype)
        self.b_W, self.b_R = (np.asarray(b, dtype) for b in (node.b_W, node.b_R))
        self.theta = np.asarray(node.threshold, dtype)
        self.v = np.zeros((batch, h), dtype)  # c, after the reset
        self.y = np.zeros((batch, h), dtype)
        self.steps = self.events = 0

    def step(self, x) -> np.ndarray:
        x = port_inputs(self.name, x, self.ports, self.in_shapes, self.batch, self.dtype)["input"]
        h = self.h
        vx = self.w_in(x) + self.b_W
        vh = self.w_rec(self.y) + self.b_R
        u = sigmoid(vx[:, :h] + vh[:, :h])
        r = sigmoid(vx[:, h:2 * h] + vh[:, h:2 * h])
        z = np.tanh(vx[:, 2 * h:] + r * vh[:, 2 * h:])
        c = u * self.v + (1 - u) * z
        e = c > self.theta
        self.y = np.where(e, c, 0).astype(self.dtype, copy=False)
        self.v = c - e * self.theta
        self.steps += 1
        self.events += int(np.count_nonzero(e))
        return self.y

    def counters(self) -> dict[str, int]:
        """Event-driven weight work: each non-zero input reads its column of W, each event of the
        previous step its column of R (graded events, so those are MACs)."""
        return product_counters((self.w_in, self.w_rec), neuron_updates=self.steps * self.batch * self.h,
                                spikes=self.events)

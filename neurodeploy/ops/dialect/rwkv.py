"""SpikeGPT / RWKV-v4 time-mix and channel-mix, one token per step (SpikeGPT `src/model_run.py`).

Both shift the token: x_prev is the previous step's input (zeros at t=0) and each projection
reads ``mu * x + (1 - mu) * x_prev``. Time-mix runs the WKV recurrence in the numerically stable
form of RWKV-v4's CUDA kernel and SpikeGPT's RNN mode: the accumulators aa, bb are kept scaled
by exp(-pp), pp being the running maximum exponent (equations: docs/equations.md). Everything
is real-valued host work; only the weight products are counted.
"""
from __future__ import annotations

import numpy as np

from .common import Product, port_inputs, product_counters, sigmoid


class _TokenShift:
    """Input handling shared by both mixes: the port's array and the previous step's input."""

    ports = ("input",)

    def _setup(self, name, node, batch, dtype):
        self.name, self.batch, self.dtype = name, batch, dtype
        self.d = int(np.asarray(node.mu_k).shape[0])
        self.in_shapes = {"input": (self.d,)}
        self.x_prev = np.zeros((batch, self.d), dtype)

    def _shift(self, x):
        x = port_inputs(self.name, x, self.ports, self.in_shapes, self.batch, self.dtype)["input"]
        prev, self.x_prev = self.x_prev, x.copy()
        return x, prev

    @staticmethod
    def _mix(mu, x, prev):
        return x * mu + prev * (1 - mu)


class TimeMixState(_TokenShift):
    def __init__(self, name, node, in_shapes, out_shape, sem, batch, dtype):
        self._setup(name, node, batch, dtype)
        f = lambda a: np.asarray(a, dtype)  # noqa: E731
        self.mu_k, self.mu_v, self.mu_r = f(node.mu_k), f(node.mu_v), f(node.mu_r)
        self.key, self.value = Product(node.W_k, dtype), Product(node.W_v, dtype)
        self.receptance, self.output = Product(node.W_r, dtype), Product(node.W_o, dtype)
        self.w = -np.exp(f(node.time_decay))
        self.u = f(node.time_first)
        a = self.u.shape[0]
        self.aa = np.zeros((batch, a), dtype)
        self.bb = np.zeros((batch, a), dtype)
        self.pp = np.full((batch, a), -1e30, dtype)

    def step(self, x) -> np.ndarray:
        x, prev = self._shift(x)
        k = self.key(self._mix(self.mu_k, x, prev))
        v = self.value(self._mix(self.mu_v, x, prev))
        r = sigmoid(self.receptance(self._mix(self.mu_r, x, prev)))
        aa, bb, pp = self.aa, self.bb, self.pp
        uk = self.u + k
        p = np.maximum(pp, uk)
        e1, e2 = np.exp(pp - p), np.exp(uk - p)
        wkv = (e1 * aa + e2 * v) / (e1 * bb + e2)
        decayed = pp + self.w
        p = np.maximum(decayed, k)
        e1, e2 = np.exp(decayed - p), np.exp(k - p)
        self.aa, self.bb, self.pp = e1 * aa + e2 * v, e1 * bb + e2, p
        return self.output(r * wkv)

    def counters(self) -> dict[str, int]:
        return product_counters((self.key, self.value, self.receptance, self.output))


class ChannelMixState(_TokenShift):
    def __init__(self, name, node, in_shapes, out_shape, sem, batch, dtype):
        self._setup(name, node, batch, dtype)
        self.mu_k, self.mu_r = np.asarray(node.mu_k, dtype), np.asarray(node.mu_r, dtype)
        self.key, self.value = Product(node.W_k, dtype), Product(node.W_v, dtype)
        self.receptance = Product(node.W_r, dtype)

    def step(self, x) -> np.ndarray:
        x, prev = self._shift(x)
        k = np.square(np.maximum(self.key(self._mix(self.mu_k, x, prev)), 0))
        return sigmoid(self.receptance(self._mix(self.mu_r, x, prev))) * self.value(k)

    def counters(self) -> dict[str, int]:
        """The value product is event-driven on the squared-ReLU key (its zeros cost nothing)."""
        return product_counters((self.key, self.value, self.receptance))

"""LayerNorm over the feature vector, PyTorch's definition (biased variance, eps inside the root)."""
from __future__ import annotations

import numpy as np

from .common import port_inputs


class LayerNormState:
    ports = ("input",)

    def __init__(self, name, node, in_shapes, out_shape, sem, batch, dtype):
        self.name, self.batch, self.dtype = name, batch, dtype
        self.weight, self.bias = np.asarray(node.weight, dtype), np.asarray(node.bias, dtype)
        self.eps = float(node.eps)
        self.in_shapes = {"input": (self.weight.shape[0],)}

    def step(self, x) -> np.ndarray:
        x = port_inputs(self.name, x, self.ports, self.in_shapes, self.batch, self.dtype)["input"]
        centred = x - x.mean(axis=-1, keepdims=True)
        var = np.mean(centred * centred, axis=-1, keepdims=True)
        return centred / np.sqrt(var + self.eps) * self.weight + self.bias

    def counters(self) -> dict[str, int]:
        """Element-wise host arithmetic only: no synapses, no neurons."""
        return {}

"""Token embedding: the input is one token index per step (a float holding an integer)."""
from __future__ import annotations

import numpy as np

from ...errors import InvalidModel
from .common import port_inputs


class EmbeddingState:
    ports = ("input",)

    def __init__(self, name, node, in_shapes, out_shape, sem, batch, dtype):
        self.name, self.batch, self.dtype = name, batch, dtype
        w = np.asarray(node.weight)
        self.weight = np.asarray(w, dtype)
        self.fan = np.count_nonzero(w, axis=1).astype(np.int64)  # a token drives its row's non-zeros
        self.events = 0

    def step(self, x) -> np.ndarray:
        x = port_inputs(self.name, x, self.ports, {"input": (1,)}, self.batch, np.float64)["input"][:, 0]
        vocab = self.weight.shape[0]
        bad = ~np.isfinite(x) | (x != np.round(x)) | (x < 0) | (x >= vocab)
        if np.any(bad):
            raise InvalidModel(f"token index {x[bad][0]!r} is not an integer in [0, {vocab})", where=self.name,
                               hint="an Embedding input is one token index per step")
        idx = x.astype(np.int64)
        self.events += int(self.fan[idx].sum())
        return self.weight[idx]

    def counters(self) -> dict[str, int]:
        """A lookup is a one-hot product: one binary input driving its row (accumulates, no MACs)."""
        return {"synaptic_events": self.events, "macs": 0}

"""What every dialect state shares: reading its ports and counting weight products honestly."""
from __future__ import annotations

import numpy as np

from ...errors import InvalidModel


def port_inputs(name: str, x, ports: tuple[str, ...], shapes: dict, batch: int, dtype) -> dict:
    """`x` as a dict port -> (B, *shape) array. A bare array is the first port's input (how the
    simulator passes a single-port op's input); a port with no incoming edge reads zeros."""
    if not isinstance(x, dict):
        x = {ports[0]: x}
    unknown = set(x) - set(ports)
    if unknown:
        raise InvalidModel(f"input on unknown port(s) {sorted(unknown)}; this node's ports are "
                           f"{', '.join(ports)}", where=name)
    out = {}
    for p in ports:
        shape = (batch,) + tuple(shapes.get(p, ()))
        a = x.get(p)
        out[p] = np.zeros(shape, dtype) if a is None else np.asarray(a, dtype).reshape(shape)
    return out


class Product:
    """``x @ W.T`` on a batch (B, in), counting what it costs as the reference counts a weight
    layer: synaptic events = non-zero operand elements x the non-zero weights in their column;
    they are MACs when the operand stream was ever real-valued (not 0/1) during the run."""

    def __init__(self, w: np.ndarray, dtype):
        w = np.asarray(w)
        self.wt = np.ascontiguousarray(w.T, dtype=dtype)  # (in, out): x @ wt
        self.fan = np.count_nonzero(w, axis=0).astype(np.int64)
        self.events = 0
        self.real = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        nz = x != 0
        self.events += int(nz.sum(axis=0) @ self.fan)
        if not self.real:
            self.real = bool(np.any(nz & (x != 1)))
        return x @ self.wt

    @property
    def macs(self) -> int:
        return self.events if self.real else 0


def product_counters(products, **more) -> dict[str, int]:
    """Counters of a node whose weight work is the given products, plus `more` counts."""
    return {"synaptic_events": sum(p.events for p in products), "macs": sum(p.macs for p in products),
            **more}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow for large |x| (exact identity via tanh)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))

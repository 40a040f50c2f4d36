"""Real values into a chip that takes integer events (Loihi's graded spikes): quantized at the
boundary, the scale folded into the chip part.

The host sends round(x / q) clipped to the signed range of the payload bits; the consuming node's
input gain is multiplied by q (a neuron's ``r`` or ``w_in``, a weight layer's weights), so the chip
sees the same drive up to the rounding of x. q = max |x| / (2^(bits-1) - 1) over a calibration run
of the float model (the reference), per crossing source.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UnsupportedNode, UsageError
from ..ir.graph import Graph
from ..sim.reference import simulate

GAIN = {"LIF": "r", "IF": "r", "LI": "r", "I": "r", "CubaLIF": "w_in", "CubaLI": "w_in", "Affine": "weight",
        "Linear": "weight"}


def scales(graph: Graph, calibration, sources: list[str], bits: int) -> dict[str, float]:
    """q per source: its largest |value| over the calibration run / the largest payload."""
    if calibration is None:
        raise UsageError(f"values from {', '.join(sources)} cross into a chip that takes integer events",
                         hint="give calibration inputs to choose the boundary scale")
    res = simulate(graph, calibration, record=sources)
    top = float(2 ** (bits - 1) - 1)
    out = {}
    for s in sources:
        trace = next(t[s] for t in (res.extra["outputs"], res.spikes, res.v) if s in t)
        peak = float(np.abs(trace).max())
        out[s] = peak / top if peak > 0 else 1.0
    return out


def fold(chip: Graph, src: str, q: float) -> None:
    """Multiply the input gain of `src`'s consumers in the chip graph by q (in place)."""
    for d in chip.successors(src):
        node = chip.nodes[d]
        field = GAIN.get(type(node).__name__)
        if field is None or len(chip.predecessors(d)) != 1:
            raise UnsupportedNode(f"values from {src!r} need a scaled input here; {type(node).__name__} with "
                                  f"{len(chip.predecessors(d))} input(s) cannot take the boundary scale", where=d)
        gain = getattr(node, field)
        chip.nodes[d] = dataclasses.replace(node, **{field: (1.0 if gain is None else np.asarray(gain)) * q})


def encode(x: np.ndarray, q: float, bits: int) -> np.ndarray:
    top = 2 ** (bits - 1) - 1
    return np.clip(np.rint(np.asarray(x) / q), -top, top)

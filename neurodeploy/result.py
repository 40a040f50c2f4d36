"""What running a network (reference, simulator, engine or board) gives back.

Counter names shared by all targets (a target counts those it has; absent means not modelled):
- ``synaptic_events``: one per (spike or non-zero graded event) × (target synapse) delivered;
- ``dense_synaptic_ops``: every synapse every step (what a clock-driven dense machine does);
- ``macs``: multiply-accumulates on real-valued inputs (first layer, host-like ops);
- ``neuron_updates``: one per neuron per step it was updated; ``spikes``: spikes emitted;
- ``packets``, ``hops``: routed spike packets and router-to-router hops;
- ``sram_reads``, ``sram_writes``, ``dram_accesses``: memory words touched;
- ``cycles``: active processor cycles (summed over units); ``ticks``: time steps run;
- target-specific extras may be added with a target prefix (``s2_...``, ``loihi_...``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Counters = dict[str, float]


def add_counters(into: Counters, other: Counters) -> Counters:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v
    return into


@dataclass
class Result:
    """Recorded traces are arrays shaped (T, batch, *node_shape)."""

    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    v: dict[str, np.ndarray] = field(default_factory=dict)
    counters: Counters = field(default_factory=dict)
    per_layer: dict[str, Counters] = field(default_factory=dict)
    per_unit: dict[str, Counters] = field(default_factory=dict)
    sim_time_s: float = 0.0
    extra: dict = field(default_factory=dict)

    def save_npz(self, path: str | Path) -> None:
        arrays = {f"{k}.spikes": v for k, v in self.spikes.items()}
        arrays.update({f"{k}.v": v for k, v in self.v.items()})
        arrays.update({f"{k}.out": v for k, v in self.extra.get("outputs", {}).items()})  # real-valued outputs
        np.savez_compressed(path, **arrays)

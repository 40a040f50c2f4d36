"""The conventional baseline: the same network run densely on a CPU/GPU at published pJ/op.

A clock-driven dense machine touches every synapse every step (one MAC each, NeuroBench's
"Dense" count) and updates every neuron every step, whatever the spikes; that is what
keras-spiking's non-spiking devices and the SNN-paper E_ANN = E_MAC x FLOPs formula assume. The
per-op figures are in targets/baselines/conventional.toml with their sources. Ratios are
baseline / target, so "the chip is N x cheaper" is quoted against a stated device.
"""
from __future__ import annotations

from .. import targets as tg
from ..ir.graph import Graph
from ..result import Result
from .model import PJ, Joules, run_shape
from .neurobench import dense_ops_per_step

BASELINE_FILE = tg.TARGETS_DIR / "baselines" / "conventional.toml"


def baseline(graph: Graph, result: Result | None = None, *, steps: int | None = None,
             batch: int | None = None, energy: Joules | None = None) -> dict:
    """Dense-run energy of `graph` per device for the run's steps x batch (from `result` unless
    given); with `energy` (the target's total), the ratio baseline / target per device."""
    if result is not None:
        r_steps, r_batch = run_shape(result)
        steps, batch = steps or r_steps, batch or r_batch
    steps, batch = steps or 1, batch or 1
    macs = dense_ops_per_step(graph) * steps * batch
    updates = sum(graph.size(n) for n in graph.neurons()) * steps * batch
    spec = tg.load(str(BASELINE_FILE))
    devices = {}
    for dev, table in spec.get("devices").items():
        mac, upd = spec.q(f"devices.{dev}.mac"), spec.q(f"devices.{dev}.neuron_update")
        j = Joules(macs * mac.low * PJ[mac.unit] + updates * upd.low * PJ[upd.unit],
                   macs * mac.value * PJ[mac.unit] + updates * upd.value * PJ[upd.unit],
                   macs * mac.high * PJ[mac.unit] + updates * upd.high * PJ[upd.unit])
        row = {"label": table.get("label", dev), "energy": j,
               "mac_pJ": mac.value * PJ[mac.unit] / PJ["pJ"], "mac_source": mac.source,
               "mac_confidence": mac.confidence, "neuron_update_source": upd.source,
               "neuron_update_confidence": upd.confidence}
        if energy is not None and energy.point > 0:
            # the widest honest ratio: cheapest baseline over the dearest target estimate and back
            row["ratio"] = Joules(j.low / energy.high, j.point / energy.point,
                                  j.high / energy.low if energy.low > 0 else float("inf"))
        devices[dev] = row
    return {"dense_macs": macs, "neuron_updates": updates, "steps": steps, "batch": batch,
            "devices": devices, "file": str(BASELINE_FILE)}

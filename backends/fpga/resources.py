"""Resources of the generated core estimated from its structure, and the design rules against the part.

Memories: each of a layer's four memories (weights rows*W x P*wb, parameters W x P*(D+1+2vb),
v W x P*vb, acc W x P*ab) takes the fewest RAMB36 over the part's aspect ratios (UG573,
``part.bram.width_*``). Multipliers: one v x A product per lane, ceil(vb/(a-1)) x ceil((D+1)/(b-1))
DSP48E2 slices for an a x b signed multiplier. Registers and logic are counted per lane from the
datapath widths (adders, comparators, muxes: one LUT per bit) plus the controller's counters and
each layer's spike bitmap (one FF per neuron).

`rules_from_shapes` needs only the layer sizes and fan-ins, so a graph far over the part is refused
before anything big is built.
"""
from __future__ import annotations

import math

from neurodeploy.backend import Rule
from neurodeploy.targets import Target

ROLE = "compile"
BRAM_KEY = "width_"


def bram36(target: Target, width: int, depth: int) -> int:
    if width == 0 or depth == 0:
        return 0
    configs = [(int(k[len(BRAM_KEY):]), int(q.low)) for k, q in target.section("part.bram").items()]
    return min(math.ceil(width / w) * math.ceil(depth / d) for w, d in configs)


def rules_from_shapes(target: Target, layers: list[tuple[str, int, int]], lanes: int, wb: int) -> list[Rule]:
    """(name, size, fan-in rows) per layer -> the weight-memory rule alone."""
    need = sum(bram36(target, lanes * wb, rows * -(-n // lanes)) for _, n, rows in layers)
    return [Rule("bram36_weights", need, int(target.v("part.bram36")), where="weight memories",
                 hint="fewer or smaller layers, fewer -O weight_bits, or a larger part")]


def estimate(spec: dict, target: Target) -> dict:
    """{"bram36", "dsp", "lut", "ff"} of the whole core, and per layer."""
    P, wb, ab, vb, D = (spec[k] for k in ("lanes", "weight_bits", "acc_bits", "v_bits", "decay_bits"))
    a_bits, b_bits = int(target.v("part.dsp_a_bits")), int(target.v("part.dsp_b_bits"))
    dsp_lane = math.ceil(vb / (a_bits - 1)) * math.ceil((D + 1) / (b_bits - 1))
    per_layer, total = {}, {"bram36": 0, "dsp": 0, "lut": 0, "ff": 0}
    for lay in spec["layers"]:
        W = lay["words"]
        mems = [(P * wb, lay["rows"] * W), (P * (D + 1 + 2 * vb), W), (P * vb, W), (P * ab, W)]
        r = {"bram36": sum(bram36(target, w, d) for w, d in mems), "dsp": P * dsp_lane,
             # per lane: acc adder, v sum (two adders), compare, reset mux, weight lane
             "lut": P * (ab + 2 * vb + vb + vb + vb + wb) + lay["size"] * len(lay["consumers"]),
             "ff": W * P + P}
        per_layer[lay["name"]] = r
        for key in total:
            total[key] += r[key]
    ctrl = 2 * spec["index_bits"] + max(lay["size"] for lay in spec["layers"]).bit_length() * 2
    total["ff"] += ctrl
    total["lut"] += ctrl
    return {"total": total, "layers": per_layer}


def rules(spec: dict, target: Target, est: dict, clock: float) -> list[Rule]:
    t = est["total"]
    return [Rule("bram36", t["bram36"], int(target.v("part.bram36")), where="memories"),
            Rule("dsp48e2", t["dsp"], int(target.v("part.dsps")), where="datapath",
                 hint="fewer -O lanes or narrower formats"),
            Rule("lut", t["lut"], int(target.v("part.luts")), where="logic"),
            Rule("ff", t["ff"], int(target.v("part.ffs")), where="registers"),
            Rule("clock", clock, float(target.v("part.pl_clock_max")), where="design.clock")]
